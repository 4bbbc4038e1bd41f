"""A small logistic regression in standard-library Python: the built-in payment model.

:func:`fit` finds the weights *w* that minimise the L2-penalised negative
log-likelihood

    sum_i [log(1 + exp(w·x_i)) - y_i w·x_i]  +  l2/2 · sum_{j>0} w_j²

(the first column is the intercept, which is not penalised: the objective of
scikit-learn's ``LogisticRegression(C=1/l2)``), by Newton's method with a
halving line search. Data is held by column so that each pass over the rows
runs in ``map``; a Newton step solves the (features × features) system by
Gaussian elimination. tests/test_prediction.py checks the weights against
ones computed independently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import mul


def sigmoid(z: float) -> float:
    """1 / (1 + e^-z), without overflow."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _log1pexp(z: float) -> float:
    """log(1 + e^z), without overflow."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """x with matrix · x = vector (Gaussian elimination, partial pivoting)."""
    n = len(vector)
    rows = [row[:] + [value] for row, value in zip(matrix, vector, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) < 1e-300:
            raise ValueError("the features are linearly dependent: no unique fit")
        rows[col], rows[pivot] = rows[pivot], rows[col]
        head = rows[col]
        for r in range(col + 1, n):
            factor = rows[r][col] / head[col]
            if factor:
                rows[r] = [a - factor * b for a, b in zip(rows[r], head, strict=True)]
    solution = [0.0] * n
    for col in range(n - 1, -1, -1):
        done = sum(rows[col][k] * solution[k] for k in range(col + 1, n))
        solution[col] = (rows[col][n] - done) / rows[col][col]
    return solution


def _scores(columns: list[list[float]], weights: Sequence[float]) -> list[float]:
    scores = [0.0] * len(columns[0])
    for column, weight in zip(columns, weights, strict=True):
        if weight:
            scores = [s + weight * v for s, v in zip(scores, column, strict=True)]
    return scores


def _objective(scores: list[float], labels: Sequence[int], weights: Sequence[float],
               l2: float) -> float:
    loss = math.fsum(_log1pexp(z) - y * z for z, y in zip(scores, labels, strict=True))
    return loss + l2 / 2 * math.fsum(w * w for w in weights[1:])


def fit(rows: Sequence[Sequence[float]], labels: Sequence[int], *, l2: float = 1.0,
        iterations: int = 100, tolerance: float = 1e-9) -> list[float]:
    """The weights of a logistic regression of *labels* (0 or 1) on *rows*.

    Each row starts with the intercept's 1.0. With ``l2 = 0`` this is the
    maximum-likelihood fit, which does not exist when the classes are
    separable (the weights grow until *iterations* run out).
    """
    if not rows:
        raise ValueError("nothing to learn from: no rows")
    columns = [list(column) for column in zip(*rows, strict=True)]
    size = len(columns)
    penalty = [0.0] + [l2] * (size - 1)
    weights = [0.0] * size
    scores = _scores(columns, weights)
    current = _objective(scores, labels, weights, l2)
    for _ in range(iterations):
        probabilities = [sigmoid(z) for z in scores]
        residuals = [y - p for y, p in zip(labels, probabilities, strict=True)]
        variances = [p * (1.0 - p) for p in probabilities]
        gradient = [math.fsum(map(mul, column, residuals)) - pen * w
                    for column, pen, w in zip(columns, penalty, weights, strict=True)]
        weighted = [list(map(mul, column, variances)) for column in columns]
        hessian = [[0.0] * size for _ in range(size)]
        for j in range(size):
            for k in range(j, size):
                hessian[j][k] = hessian[k][j] = math.fsum(map(mul, weighted[j], columns[k]))
            hessian[j][j] += penalty[j]
        step = _solve(hessian, gradient)
        scale = 1.0
        while True:  # halve the step until the objective does not get worse
            trial = [w + scale * s for w, s in zip(weights, step, strict=True)]
            trial_scores = _scores(columns, trial)
            value = _objective(trial_scores, labels, trial, l2)
            if value <= current or scale < 1e-10:
                break
            scale /= 2
        moved = max(abs(scale * s) for s in step)
        weights, scores, current = trial, trial_scores, value
        if moved < tolerance:
            break
    return weights


def probability(weights: Sequence[float], row: Sequence[float]) -> float:
    """The fitted probability of label 1 for *row* (starting with the intercept's 1.0)."""
    return sigmoid(math.fsum(map(mul, weights, row)))


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """The area under the ROC curve: the chance that a random positive scores above a
    random negative, ties counting half. None when a class is missing."""
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    ranked = sorted(zip(scores, labels, strict=True))
    rank_sum = 0.0
    i = 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        middle = (i + j) / 2 + 1
        rank_sum += middle * sum(1 for k in range(i, j + 1) if ranked[k][1])
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def precision_recall(predicted: Sequence[bool], labels: Sequence[int]) -> tuple[float | None,
                                                                                float | None]:
    """Precision and recall of *predicted* positives; None where undefined (nothing
    predicted positive, no actual positive)."""
    hits = sum(1 for p, y in zip(predicted, labels, strict=True) if p and y)
    flagged = sum(1 for p in predicted if p)
    actual = sum(1 for y in labels if y)
    return (hits / flagged if flagged else None, hits / actual if actual else None)
