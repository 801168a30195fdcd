"""One source of truth for cftkit's default hyperparameters.

Every value cites ``ct_method.md`` (the project's method reference).  Defaults reproduce what
generated the paper's published (V3) numbers; the paper's text values are kept as named options.
"""

# --- counterfactual search (ct_method §2.2, §2.5) -------------------------------------------
LEARNING_RATE = 0.1  # η of plain gradient descent; the paper's text says 0.25 (ignored by the code)
PAPER_TEXT_LEARNING_RATE = 0.25
MAX_STEPS = 50  # T at test time
THRESHOLD = 0.5  # τ: stop once softmax(f(x'))[target] >= τ
COST_WEIGHT = 0.001  # λ_cost of the plain generators (ECCCo at test time in the paper: 0.0)
ENERGY_WEIGHT = 5.0  # λ_egy (training value; the evaluation grid is EVAL_ENERGY_WEIGHTS)
ENERGY_REG = 1e-3  # r in φ_t·(E + r·E²) (ct_method §2.1)
NASCENT_EPSILON = 0.3  # ε: nascent CE = last state with ‖x_t − x‖∞ ≤ ε (ct_method §1.3 step 8)

# --- domains (ct_method §2.3) ---------------------------------------------------------------
N_STD = 2.0  # bounds [min(μ − nσ, min), max(μ + nσ, max)]; the appendix says 3
PAPER_TEXT_N_STD = 3.0

# --- training (ct_method §1.1, §3.1) --------------------------------------------------------
TRAIN_MAX_STEPS = 30
TRAIN_COST_WEIGHT = 0.001
TRAIN_ENERGY_WEIGHT = 5.0
LAMBDA_CLF = 1.0
LAMBDA_DIV = 0.5
LAMBDA_REG = 0.1
LAMBDA_ADV = 0.25
ADAM_LEARNING_RATE = 1e-3
ADAM_EPSILON = 1e-8  # Flux default (Keras' is 1e-7)

# --- evaluation (ct_method §2.5, §5) --------------------------------------------------------
EVAL_ENERGY_WEIGHTS = (0.1, 0.5, 1.0, 5.0, 10.0)
EVAL_COST_WEIGHT = 0.0
EVAL_THRESHOLD_PLAUSIBILITY = 0.95
EVAL_THRESHOLD_COST = 0.5
EVAL_MAX_STEPS = 50
MMD_LENGTH_SCALES = (0.5, 5.0)  # paper text 0.5, reference code 5.0 (comparisons use 5.0)
MMD_LENGTH_SCALE = 5.0
MMD_MAX_SAMPLES = 100
N_RUNS = 100
SIGNIFICANCE_LEVEL = 0.01  # 99 % percentile interval
