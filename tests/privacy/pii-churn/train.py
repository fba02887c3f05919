import lightgbm


def train(ctx):
    model = lightgbm.LGBMClassifier(
        n_estimators=ctx.config.get("n_estimators", 12), learning_rate=0.3, num_leaves=7, min_child_samples=5, random_state=ctx.seed, n_jobs=1, verbose=-1
    )
    model.fit(ctx.train.X, ctx.train.y, categorical_feature=ctx.categorical_indices)
    return model
