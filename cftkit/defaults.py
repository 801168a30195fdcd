"""One source of truth for cftkit's default hyperparameters.

Every value cites its section of ``docs/method.md``.  Defaults reproduce what
generated the paper's published (V3) numbers; the paper's text values are kept as named options.
"""

# --- counterfactual search -------------------------------------------------------------------
# docs/method.md#plain-gradient-descent-and-the-step-procedure and #settings-in-training-and-at-test-time
LEARNING_RATE = 0.1  # η of plain gradient descent; the paper's text says 0.25 (ignored by the code)
PAPER_TEXT_LEARNING_RATE = 0.25
MAX_STEPS = 50  # T at test time
THRESHOLD = 0.5  # τ: stop once softmax(f(x'))[target] >= τ
COST_WEIGHT = 0.001  # λ_cost of the plain generators (ECCCo at test time in the paper: 0.0)
ENERGY_WEIGHT = 5.0  # λ_egy (training value; the evaluation grid is EVAL_ENERGY_WEIGHTS)
ENERGY_REG = 1e-3  # r in φ_t·(E + r·E²) (docs/method.md#eccco)
NASCENT_EPSILON = 0.3  # ε: nascent CE = last state with ‖x_t − x‖∞ ≤ ε (docs/method.md#algorithm-1, step 8)

# --- domains (docs/method.md#domains) ------------------------------------------------------
N_STD = 2.0  # bounds [min(μ − nσ, min), max(μ + nσ, max)]; the appendix says 3
PAPER_TEXT_N_STD = 3.0

# --- training (docs/method.md#the-loss-of-one-mini-batch, #shared-settings) ----------------
TRAIN_MAX_STEPS = 30
SCHEDULES = ("step", "epoch")  # CEs on the fly per train_step (Algorithm 1) / once per epoch (reference code)
TRAIN_COST_WEIGHT = 0.001
TRAIN_ENERGY_WEIGHT = 5.0
LAMBDA_CLF = 1.0
LAMBDA_DIV = 0.5
LAMBDA_REG = 0.1
LAMBDA_ADV = 0.25
ADAM_LEARNING_RATE = 1e-3
ADAM_EPSILON = 1e-8  # Flux default (Keras' is 1e-7)

# --- evaluation (docs/method.md#evaluation-protocol) -----------------------------------------
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

# --- evaluation protocol sizes and metric options ---------------------------------------------
# docs/method.md#runs-individuals-and-factual-draws, #metrics, #integrated-gradients and
# #accuracy-and-adversarial-robustness
EVAL_N_INDIVIDUALS = 250  # individuals per run and λ_egy for synthetic data
EVAL_N_INDIVIDUALS_BY_KIND = {"synthetic": 250, "tabular": 100, "mnist": 25}
EVAL_SPLIT = "test"  # the paper evaluates on the held-out test set (the grid searches used "train")
IP_MAX_SAMPLES = None  # None = exact mean over all target-class reference points (the expectation)
IP_REFERENCE_DRAWS = 1000  # the reference: min(N_eval, 1000) draws with replacement (docs/method.md#metrics)
IP_STAR_CLAMP = True  # negative MMD² estimates are clamped to 0 before aggregation (docs/method.md#metrics)
ROBUST_EPSILONS = tuple(0.1 * i / 9 for i in range(10))  # np.linspace(0, 0.1, 10)
FGSM_EPSILON = 0.03  # "Acc*" of the older tables
PGD_STEPS = 40
PGD_STEP_SIZE = 0.01
IG_STEPS = 50  # Riemann steps (the reference's MNIST visualisation script; unknown in its main script)
IG_METHOD = "trapezoid"
IG_ROUNDS = 100
IG_N_SAMPLES = 2500
IG_BASELINE_RANGE = (-1.0, 1.0)  # random U(−1, 1) baseline per sample
IG_QUANTILES = (0.025, 0.975)

# --- REVISE and its VAE (docs/method.md#revise) ---------------------------------------------
# REVISE's search uses the search defaults above (η, T, τ, λ_cost); only the VAE has its own values.
VAE_LATENT_DIM_2D = 2  # L for 2-D data
VAE_HIDDEN_2D = 16  # h for 2-D data
VAE_LATENT_DIM = 4  # L otherwise, including MNIST
VAE_HIDDEN = 32  # h otherwise, including MNIST
VAE_EPOCHS = 100
VAE_BATCH_SIZE = 50  # shuffled every epoch
VAE_LEARNING_RATE = 1e-3  # Adam
VAE_WEIGHT_DECAY = 0.01  # λ of the ridge penalty λ·Σ‖θ_dec‖² on the decoder's parameters
