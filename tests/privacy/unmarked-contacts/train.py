import lightgbm


def train(ctx):
    model = lightgbm.LGBMClassifier(n_estimators=5, random_state=ctx.seed, n_jobs=1, verbose=-1)
    model.fit(ctx.train.X, ctx.train.y, categorical_feature=ctx.categorical_indices)
    return model
