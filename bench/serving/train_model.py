"""Trains the serving benchmark's model and writes it twice: pickled for the FastAPI peer, ONNX for
the Node servers (rtml's model contract: float input `features` [N, 16], output `score` [N, 1] =
P(label = 1)), so every server scores with the same trees. Also writes 1000 held-out rows with
scikit-learn's probabilities, against which bench/serving/check-model.ts checks ONNX Runtime.

Run: python3.11 bench/serving/train_model.py <out-dir>  ->  model.pkl, model.onnx, check.json
"""
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.ensemble import GradientBoostingClassifier

# Column order of the model: f* come in the request body, g* from the online store (view `bench`).
FEATURES = [f"f{i}" for i in range(8)] + [f"bench__g{i}" for i in range(8)]
ROWS, CHECK_ROWS = 20_000, 1000


def synthetic(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal features (float32, as the servers feed them); the label depends on both the
    request and the stored features, with an interaction and a threshold the trees have to learn."""
    x = rng.standard_normal((rows, len(FEATURES))).astype(np.float32).astype(np.float64)
    logit = 1.2 * x[:, 0] - 0.8 * x[:, 1] + x[:, 2] * x[:, 3] + 0.9 * x[:, 8] - 0.7 * x[:, 9] + 1.5 * (x[:, 10] > 0.5) - 0.5
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y


def threshold32(t: float) -> float:
    """The largest float32 <= t. scikit-learn compares float32 inputs with float64 thresholds;
    ONNX Runtime compares with float32 ones, and rounding t to nearest could send an input equal to
    the rounded value the other way. Rounding down keeps `x <= t` the same for every float32 x."""
    f = np.float32(t)
    return float(f if f <= t else np.nextafter(f, np.float32(-np.inf)))


def to_onnx(model: GradientBoostingClassifier, base: float) -> onnx.ModelProto:
    """The fitted trees as one ai.onnx.ml TreeEnsembleRegressor (margin = base + sum of
    learning_rate * leaf values), then Sigmoid."""
    a: dict[str, list] = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                                          "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for t, (estimator,) in enumerate(model.estimators_):
        tree = estimator.tree_
        for n in range(tree.node_count):
            leaf = tree.children_left[n] == -1
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(n)
            a["nodes_featureids"].append(0 if leaf else int(tree.feature[n]))
            a["nodes_values"].append(0.0 if leaf else threshold32(tree.threshold[n]))
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_truenodeids"].append(0 if leaf else int(tree.children_left[n]))
            a["nodes_falsenodeids"].append(0 if leaf else int(tree.children_right[n]))
            if leaf:
                a["target_treeids"].append(t)
                a["target_nodeids"].append(n)
                a["target_ids"].append(0)
                a["target_weights"].append(float(model.learning_rate * tree.value[n, 0, 0]))
    trees = helper.make_node("TreeEnsembleRegressor", ["features"], ["margin"], domain="ai.onnx.ml", name="trees",
                             n_targets=1, base_values=[base], aggregate_function="SUM", post_transform="NONE", **a)
    sigmoid = helper.make_node("Sigmoid", ["margin"], ["score"], name="probability")
    graph = helper.make_graph([trees, sigmoid], "bench_gbdt",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(FEATURES)])],
                              [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])])
    proto = helper.make_model(graph, producer_name="bench/serving/train_model.py", ir_version=8,
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    helper.set_model_props(proto, {"rtml.features": json.dumps(FEATURES), "rtml.label": "label"})
    onnx.checker.check_model(proto)
    return proto


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    x, y = synthetic(ROWS, rng)
    started = time.perf_counter()
    model = GradientBoostingClassifier(n_estimators=100, max_depth=6, random_state=7).fit(x, y)
    trained = time.perf_counter() - started
    base = float(model._raw_predict_init(x[:1])[0, 0])  # log-odds of the training prior
    (out / "model.pkl").write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    (out / "model.onnx").write_bytes(to_onnx(model, base).SerializeToString())
    cx, cy = synthetic(CHECK_ROWS, rng)
    proba = model.predict_proba(cx)[:, 1]
    (out / "check.json").write_text(json.dumps({"features": FEATURES, "rows": cx.tolist(), "proba": proba.tolist()}))
    accuracy = float(((proba >= 0.5) == cy).mean())
    print(f"trained {len(model.estimators_)} trees in {trained:.1f} s; held-out accuracy {accuracy:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
