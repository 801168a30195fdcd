"""Evaluation of counterfactual training: metrics, protocol, robustness, attribution.

Public API::

    validity, cost, implausibility (IP), mmd, ip_star (IP*)       # docs/method.md#metrics
    evaluate_counterfactuals(models, dataset, ...)                 # docs/method.md#evaluation-protocol
    compare(result, "CT", "BL"), reduction, percentile_significance  # docs/method.md#aggregation-and-significance
    fgsm, pgd, robust_accuracy                                     # docs/method.md#accuracy-and-adversarial-robustness
    integrated_gradients, protected_sensitivity                    # docs/method.md#integrated-gradients

Example:
    >>> import cftkit.evaluation as ev
    >>> ev.ip_star_key(5.0), ev.ip_star_key(0.5)
    ('ip_star[5]', 'ip_star[0.5]')
"""

from .attribution import (IG_METHODS, ProtectedSensitivity, integrated_gradients, protected_sensitivity,
                          standardise_attributions)
from .metrics import (accuracy, cost, f1_score, implausibility, ip_star, mmd, mmd_batched, predict, predict_logits,
                      validity)
from .protocol import (Comparison, ProtocolResult, compare, evaluate_counterfactuals, ip_star_key,
                       percentile_significance, reduction)
from .robustness import ATTACKS, fgsm, pgd, robust_accuracy

__all__ = ["ATTACKS", "Comparison", "IG_METHODS", "ProtectedSensitivity", "ProtocolResult", "accuracy", "compare",
           "cost", "evaluate_counterfactuals", "f1_score", "fgsm", "implausibility", "integrated_gradients",
           "ip_star", "ip_star_key", "mmd", "mmd_batched", "percentile_significance", "pgd", "predict",
           "predict_logits", "protected_sensitivity", "reduction", "robust_accuracy", "standardise_attributions",
           "validity"]
