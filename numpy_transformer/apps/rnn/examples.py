"""The book's recurrent examples, both backends from the same initial weights:

* `sunspots` (chapters 6-7): SimpleRNN + Dense regression of a monthly series with an ~11-year
  cycle, one step ahead from windows of `time_steps` months; RMSE on the later test period.
* `fibonacci` (chapter 9): the next number of Fibonacci(-like) sequences with a SimpleRNN alone,
  with the book's attention layer after it, and with Bahdanau attention; test MSE of each.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...config import RNNConfig
from ...models import RNNRegressor
from ...training.checkpoint import write_json
from .train import fit_rnn, make_rnn_backend, rmse
from ...data.series import fibonacci_data, fibonacci_like_data, load_series, split_series


def _check_common(epochs, batch_size, lr, backends):
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"epochs and batch size must be >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
    bad = [b for b in backends if b not in ("numpy", "keras")]
    if bad or not backends:
        raise ValueError(f"backends must be numpy and/or keras, got {list(backends)}")


def run_sunspots(data=None, time_steps=12, hidden=3, epochs=20, batch_size=16, lr=1e-3, stride=1,
                 train_fraction=0.8, backends=("numpy", "keras"), dtype="float32", seed=0,
                 out_dir="runs/sunspots", quiet=False, threads=None):
    _check_common(epochs, batch_size, lr, backends)
    series = load_series(data)                       # errors before any model is built
    Xtr, ytr, Xte, yte, scaler, split = split_series(series, train_fraction, time_steps, stride)
    cfg = RNNConfig(input_dim=1, hidden=hidden, time_steps=time_steps, attention="none", dtype=dtype)
    state = RNNRegressor(cfg, seed=seed).state_dict()
    name = Path(data).name if data else "the generated series shipped in the package (data/seasonal_series.csv)"
    print(f"data: {name}: {len(series)} values; {len(Xtr)} training windows of {time_steps} "
          f"(stride {stride}), {len(Xte)} test windows after month {split}")
    print(f"model: SimpleRNN({hidden}) → Dense(1, tanh), {sum(v.size for v in state.values())} parameters, "
          f"{dtype}; Adam lr={lr}, batch {batch_size}, {epochs} epochs; same initial weights for every backend")
    persist = rmse(Xte[:, -1], yte)                   # "next month = this month"
    results, train_pred, test_pred = {}, {}, {}
    for be in backends:
        backend = make_rnn_backend(be, cfg, state, lr, on_import=threads and threads.tensorflow_threads)
        history, secs = fit_rnn(backend, Xtr, ytr, epochs, batch_size, seed, f"{be} train", quiet, threads)
        ptr, pte = backend.predict(Xtr), backend.predict(Xte)
        results[be] = {"train_rmse": rmse(ptr, ytr), "test_rmse": rmse(pte, yte),
                       "test_rmse_units": rmse(scaler.inverse(pte), scaler.inverse(yte)),
                       "final_train_mse": history[-1], "seconds": secs, "history": history}
        if stride == 1:
            train_pred[be] = scaler.inverse(ptr[:, 0])
        test_pred[be] = scaler.inverse(pte[:, 0])
        r = results[be]
        print(f"{be:6s} train RMSE {r['train_rmse']:.4f}, test RMSE {r['test_rmse']:.4f} (scaled), "
              f"{r['test_rmse_units']:.2f} in the series' units; {secs:.1f} s")
    print(f"baseline 'next = last' test RMSE {persist:.4f} (scaled), {persist * (scaler.hi - scaler.lo):.2f} in units")
    out = Path(out_dir)
    from .plots import plot_series_forecast
    plot_series_forecast(series, train_pred, test_pred, split, out / "sunspots.png",
                         f"{out.name}: SimpleRNN({hidden}) one-step forecast of "
                         f"{Path(data).name if data else 'the generated sunspot-like series'}, windows of {time_steps} "
                         f"months, stride {stride}, {epochs} epochs, batch {batch_size}, lr {lr:g}, {dtype} "
                         f"(NumPy and Keras lines coincide: same weights, same batches)", "monthly value")
    write_json(out / "results.json", {"data": name, "time_steps": time_steps, "hidden": hidden, "epochs": epochs,
                                      "batch_size": batch_size, "lr": lr, "stride": stride, "dtype": dtype,
                                      "persistence_test_rmse": persist, "results": results})
    print(f"plot: {out / 'sunspots.png'}; numbers: {out / 'results.json'}")
    return {"results": results, "persistence_test_rmse": persist}


def run_fibonacci(data="book", total=1200, time_steps=20, hidden=2, d_a=4, epochs=30, batch_size=16,
                  lr=1e-3, models=("none", "time", "bahdanau"), backends=("numpy", "keras"),
                  dtype="float32", seed=0, out_dir="runs/fibonacci", quiet=False, threads=None):
    _check_common(epochs, batch_size, lr, backends)
    bad = [m for m in models if m not in ("none", "time", "bahdanau")]
    if bad or not models:
        raise ValueError(f"models must be some of none, time, bahdanau; got {list(models)}")
    if data == "book":
        Xtr, ytr, Xte, yte, _ = fibonacci_data(total, time_steps)
        what = f"the Fibonacci numbers 1…F_{total + 1}, min-max scaled (the book's data)"
    elif data == "random":
        Xtr, ytr, Xte, yte, _ = fibonacci_like_data(total, time_steps)
        what = f"{total} Fibonacci-like sequences with random starts, scaled to (0, 1]"
    else:
        raise ValueError(f"data must be 'book' or 'random', got {data!r}")
    print(f"data: {what}; {len(Xtr)} train / {len(Xte)} test windows of {time_steps} numbers → the next")
    results, weights, examples = [], {}, {"actual": None}
    top = np.argsort(yte[:, 0])[-12:]                   # the test samples with the largest targets
    examples["actual"] = yte[top, 0]
    for kind in models:
        cfg = RNNConfig(input_dim=1, hidden=hidden, time_steps=time_steps, attention=kind, d_a=d_a, dtype=dtype)
        state = RNNRegressor(cfg, seed=seed).state_dict()
        label = {"none": "SimpleRNN", "time": "+ book attention", "bahdanau": "+ Bahdanau"}[kind]
        for be in backends:
            backend = make_rnn_backend(be, cfg, state, lr, on_import=threads and threads.tensorflow_threads)
            history, secs = fit_rnn(backend, Xtr, ytr, epochs, batch_size, seed, f"{label} {be}", quiet, threads)
            pte = backend.predict(Xte)
            r = {"model": label, "attention": kind, "backend": be, "test_mse": rmse(pte, yte) ** 2,
                 "train_mse": rmse(backend.predict(Xtr), ytr) ** 2, "seconds": secs,
                 "parameters": int(sum(v.size for v in state.values())), "history": history}
            results.append(r)
            if be == backends[0]:
                examples[label] = pte[top, 0]
                if kind != "none":
                    weights[label] = np.asarray(backend.attention_weights(Xte), np.float64).mean(axis=0)
            print(f"{label:18s} {be:6s} train MSE {r['train_mse']:.3e}, test MSE {r['test_mse']:.3e} "
                  f"({r['parameters']} parameters, {secs:.1f} s)")
    out = Path(out_dir)
    from .plots import plot_attention_study
    plot_attention_study(results, weights, examples, out / f"fibonacci-{data}.png",
                         f"{out.name}: next number of {what}: with and without attention; SimpleRNN({hidden}), d_a {d_a}, "
                         f"windows of {time_steps}, {epochs} epochs, batch {batch_size}, lr {lr:g}, {dtype}")
    write_json(out / f"results-{data}.json", {"data": data, "total": total, "time_steps": time_steps,
                                              "hidden": hidden, "d_a": d_a, "epochs": epochs,
                                              "batch_size": batch_size, "lr": lr, "dtype": dtype,
                                              "results": results,
                                              "mean_attention": {k: v.tolist() for k, v in weights.items()}})
    print(f"plot: {out / f'fibonacci-{data}.png'}; numbers: {out / f'results-{data}.json'}")
    return {"results": results, "mean_attention": weights}
