"""The platform on one machine (`sahab local up|status|down`) and the real servers it runs on."""
