"""The network's evidence for each concept: a weighting of its class scores.

The causal check (causal.py) asks whether silencing a unit lowers the network's evidence
for the unit's concept more on inputs that show the concept than on inputs that do not.
A concept's evidence is a weighted sum of the class logits: the class of the same name
when there is one (``shape:circle`` and the class ``circle`` of shapes-cnn), otherwise the
classes that co-occur with the concept, each weighted by how much more often it is the
input's class when the concept is present than when it is absent
(``P(class | concept) - P(class | no concept)``, normalized to sum 1), counting only
classes whose excess is at least `Z` standard errors (a chance co-occurrence is no
evidence). The class of an input is its label when the data have labels, else the
network's own top class. A concept with neither has no evidence: the causal check leaves
it unscored rather than guess.

Logits are read as contrasts (each minus the mean of all classes), since a softmax does
not see a shift common to every class.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Z = 3.0


def _name(text: str) -> str:
    return text.split(":", 1)[-1].strip().lower().replace("_", " ")


def evidence_weights(concepts: Sequence[str], class_names: Sequence[str] | None,
                     present: torch.Tensor, classes: torch.Tensor, n_classes: int
                     ) -> torch.Tensor:
    """[concepts, classes]: each concept's weights over the class logits (a row of zeros:
    no class goes with the concept).

    `present` [inputs, concepts] (bool) says which inputs show each concept, `classes`
    [inputs] each input's class.

    Example:
        >>> present = torch.tensor([[1, 0]] * 20 + [[0, 1]] * 20).bool()
        >>> w = evidence_weights(["color:red", "shape:circle"], ["circle", "square"],
        ...                      present, torch.tensor([1] * 20 + [0] * 20), 2)
        >>> w.tolist()                    # red goes with squares; circle is a class
        [[0.0, 1.0], [1.0, 0.0]]
    """
    weights = torch.zeros(len(concepts), n_classes)
    names = [_name(c) for c in class_names or []]
    onehot = torch.nn.functional.one_hot(classes.long(), n_classes).float()   # [N, classes]
    p = present.float()
    n_with, n_without = p.sum(0), (1 - p).sum(0)
    with_c = (p.T @ onehot) / n_with.clamp_min(1)[:, None]                 # P(class | c)
    without_c = ((1 - p).T @ onehot) / n_without.clamp_min(1)[:, None]     # P(class | no c)
    for k, concept in enumerate(concepts):
        if _name(concept) in names:
            weights[k, names.index(_name(concept))] = 1.0
            continue
        lift = with_c[k] - without_c[k]
        pooled = (p[:, k] @ onehot + (1 - p[:, k]) @ onehot) / len(p)
        se = (pooled * (1 - pooled) * (1 / n_with[k].clamp_min(1)
                                       + 1 / n_without[k].clamp_min(1))).sqrt()
        lift = torch.where(lift > Z * se, lift, torch.zeros(()))
        if n_with[k] > 0 and n_without[k] > 0 and lift.sum() > 0:
            weights[k] = lift / lift.sum()
    return weights


def contrasts(logits: torch.Tensor) -> torch.Tensor:
    """Each class logit minus the mean of all classes (shift-free evidence).

    Example:
        >>> contrasts(torch.tensor([[1.0, 3.0], [11.0, 13.0]])).tolist()
        [[-1.0, 1.0], [-1.0, 1.0]]
    """
    return logits - logits.mean(-1, keepdim=True)
