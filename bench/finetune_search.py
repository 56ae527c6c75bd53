"""Fine-tuning recipes tried on top of the review language models, each with its figures.

    python bench/finetune_search.py imdb_ulmfit sst2_ulmfit ...   # run these recipes (in parallel,
                                                                  # one BLAS thread each)
    python bench/finetune_search.py --table                       # rewrite the table only
    python bench/finetune_search.py --pairs                       # + the negation pairs of SST-2
                                                                  # records that lack them
    python bench/finetune_search.py --reread NAME ...             # a record again from its run's
                                                                  # log and metrics (runs/ft)

Every recipe is one ``bptt train sentiment`` command line (``RECIPES``), or one ``bptt train lm``
for ULMFiT's second step (``job="lm"``: the shipped LM fine-tuned on the task's own training
text, labels unused; a sentiment recipe then starts from ``runs/ft/<lm recipe>/best``; give the
LM recipes first, they run before the sentiment ones), run from the repository root under
``/usr/bin/time -v`` into ``runs/ft/<name>`` (a recipe with ``processes=N`` under ``torchrun
--nproc-per-node N`` on 127.0.0.1: data-parallel, docs/distributed.md; its peak memory is that of
the largest process); its record (the command, minutes, peak memory, the
dev accuracy (LM: held-out perplexity) of every evaluation and the best, tokens per second; for
SST-2, the share of ``bench/negation_pairs.tsv`` pairs its best model gets fully right) goes into
``bench/results/finetune_search.json`` and the table ``finetune_search.md``, beside the linear
baselines of the same split (``bench/results/linear_baselines.json``). Splits as everywhere:
SST-2 train.tsv -> dev.tsv; aclImdb/train with 5,000 reviews held out (--dev-fraction 0.2,
seed 0: ``bench/imdb_dev_files.txt``).
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from report import write_atomic  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SST2 = ["--train", "../shared/data/sst2/train.tsv", "--dev", "../shared/data/sst2/dev.tsv"]
IMDB = ["--train", "../shared/data/imdb/aclImdb/train", "--dev-fraction", "0.2", "--seed", "0"]
LMS = ["--init-from", "imdb-lm,imdb-lm-backward"]
LMS2 = ["--init-from", "runs/lm2_forward/best,runs/lm2_backward/best"]   # the LMs after a second epoch
ENCODER = ["--cell", "lstm", "--hidden-size", "256", "--bidirectional", "true"]
ULMFIT = ["--discriminative-lr", "2.6", "--slanted-triangular"]
GLOVE = "../shared/data/glove/glove.6B.50d.txt.gz"
IMDB_LEN = ["--max-len", "400", "--truncate", "head+tail", "--min-freq", "2"]

# ULMFiT's step 2: the shipped LM (same architecture, same vocabulary) fine-tuned on the text of
# the task's training split; IMDB: the 20,000 training reviews (aclImdb/train minus the held-out
# 5,000 and minus unsup/, ``imdb_task_exclude``), SST-2: the text of train.tsv
LM_SETTINGS = ["--level", "word", "--tokenizer", "review", "--cell", "lstm", "--hidden-size", "256",
               "--tie-weights", "--softmax", "sampled", "--num-sampled", "1024", "--batch-size", "64",
               "--seq-len", "50", "--lr", "0.001"]
IMDB_TASK_EXCLUDE = "runs/ft/imdb_task_exclude.txt"


def lm_recipe(data: str, direction: str, epochs: str, eval_every: str, init: str | None = None) -> dict:
    """ULMFiT's step 2 for one direction, from the shipped LM or from ``init`` (a model directory)."""
    corpus = (["--corpus", "../shared/data/imdb/aclImdb/train", "--exclude", IMDB_TASK_EXCLUDE] if data == "imdb"
              else ["--corpus", "../shared/data/sst2/train.tsv"])
    ship = init or {"forward": "imdb-lm", "backward": "imdb-lm-backward"}[direction]
    return dict(data=data, job="lm", argv=[*corpus, "--init-from", ship, "--direction", direction, *LM_SETTINGS,
                                           "--epochs", epochs, "--eval-every", eval_every,
                                           "--val-fraction", "0.02", "--patience", "2"])


def sst2_lm2(*extra: str, radius: str = "1.0", pooling: str = "max+mean", epochs: str = "4",
             seed: str | None = None, glove: bool = False, budget: str = "25") -> dict:
    """An SST-2 recipe from the second-epoch LMs (``LMS2``) with ULMFiT's plan and adversarial
    training (``sst2_ulmfit_lm2_adv1``: radius 1, max+mean pooling, 4 epochs, seed 0) as varied;
    ``glove``: GloVe 50d beside the LMs' vectors; ``extra`` options go before ``--patience``."""
    return dict(data="sst2", argv=[*SST2, *LMS2, *(["--vectors", GLOVE] if glove else []), *ENCODER, *ULMFIT,
                                   "--pooling", pooling, "--epochs", epochs, "--batch-size", "64", "--lr", "0.005",
                                   "--adversarial", radius, *extra, "--patience", "none",
                                   *(["--seed", seed] if seed else []), "--time-budget", budget])


def sst2_shipped(*extra: str, pooling: str = "max+mean", words: tuple = ("--vectors", GLOVE),
                 budget: str = "30") -> dict:
    """No language model: the shipped ``sst2`` recipe (bench/train_sentiment.py: a BiLSTM of 256
    over GloVe 50d, max+mean pooling) as varied; ``words``: how the word vectors start;
    ``extra`` options go last."""
    return dict(data="sst2", argv=[*SST2, "--cell", "lstm", "--hidden-size", "256", "--bidirectional", "true",
                                   "--pooling", pooling, *words, "--embedding-dropout", "0.3", "--output-dropout",
                                   "0.3", "--epochs", "8", "--batch-size", "64", "--lr", "0.002", "--clip-norm",
                                   "5.0", "--patience", "3", "--seed", "0", *extra, "--time-budget", budget])


LMFT = {"imdb": ["--init-from", "runs/ft/imdb_lmft_fwd/best,runs/ft/imdb_lmft_bwd/best"],
        "sst2": ["--init-from", "runs/ft/sst2_lmft_fwd/best,runs/ft/sst2_lmft_bwd/best"],
        # from the LMs pretrained for a second epoch (runs/lm2_<direction>: bench/pretrain_lm.py's
        # command with --epochs 2, resumed from the first epoch's checkpoint)
        "imdb2": ["--init-from", "runs/ft/imdb_lm2ft_fwd/best,runs/ft/imdb_lm2ft_bwd/best"]}

RECIPES: dict[str, dict] = {
    # IMDB: pretrained BiLSTM, ULMFiT's learning-rate plan, two epochs in 28 minutes
    "imdb_ulmfit": dict(data="imdb", argv=[*IMDB, *LMS, *ENCODER, *ULMFIT, *IMDB_LEN, "--pooling", "max+mean",
                                           "--epochs", "2", "--batch-size", "32", "--lr", "0.002",
                                           "--time-budget", "28"]),
    "imdb_ulmfit_adv": dict(data="imdb", argv=[*IMDB, *LMS, *ENCODER, *ULMFIT, *IMDB_LEN, "--pooling", "max+mean",
                                               "--epochs", "2", "--batch-size", "32", "--lr", "0.002",
                                               "--adversarial", "5.0", "--time-budget", "28"]),
    # SST-2: ULMFiT's plan needs a higher peak rate than a constant Adam (with the slanted
    # triangle, --lr is the peak: bench/results/ulmfit_rates_smoke.txt)
    "sst2_ulmfit": dict(data="sst2", argv=[*SST2, *LMS, *ENCODER, *ULMFIT, "--pooling", "max+mean",
                                           "--epochs", "4", "--batch-size", "64", "--lr", "0.005",
                                           "--patience", "none", "--time-budget", "20"]),
    "sst2_ulmfit_adv": dict(data="sst2", argv=[*SST2, *LMS, *ENCODER, *ULMFIT, "--pooling", "max+mean",
                                               "--epochs", "4", "--batch-size", "64", "--lr", "0.005",
                                               "--adversarial", "5.0", "--patience", "none", "--time-budget", "20"]),
    "sst2_pretrained_adam": dict(data="sst2", argv=[*SST2, *LMS, *ENCODER, "--pooling", "max+mean",
                                                    "--epochs", "4", "--batch-size", "64", "--lr", "0.001",
                                                    "--patience", "2", "--time-budget", "20"]),
    # the same encoder without the language models (random init), for the effect of pretraining
    "sst2_scratch": dict(data="sst2", argv=[*SST2, *ENCODER, "--embedding-dim", "512", "--pooling", "max+mean",
                                            "--epochs", "4", "--batch-size", "64", "--lr", "0.002",
                                            "--patience", "2", "--time-budget", "20"]),
    "imdb_ulmfit_lr5": dict(data="imdb", argv=[*IMDB, *LMS, *ENCODER, *ULMFIT, *IMDB_LEN, "--pooling", "max+mean",
                                               "--epochs", "2", "--batch-size", "32", "--lr", "0.005",
                                               "--time-budget", "28"]),
    "imdb_pretrained_adam": dict(data="imdb", argv=[*IMDB, *LMS, *ENCODER, *IMDB_LEN, "--pooling", "max+mean",
                                                    "--epochs", "2", "--batch-size", "32", "--lr", "0.001",
                                                    "--time-budget", "28"]),
    # ULMFiT's gradual unfreezing: epoch 1 trains fc alone, 2 also the BiLSTM, 3 also the embedding
    "sst2_ulmfit_gu": dict(data="sst2", argv=[*SST2, *LMS, *ENCODER, *ULMFIT, "--gradual-unfreezing", "--pooling",
                                              "max+mean", "--epochs", "4", "--batch-size", "64", "--lr", "0.005",
                                              "--patience", "none", "--time-budget", "20"]),
    # ULMFiT's step 2 (LM fine-tuning on the task's text), then the best classifier recipe of each
    "sst2_lmft_fwd": lm_recipe("sst2", "forward", "3", "200"),
    "sst2_lmft_bwd": lm_recipe("sst2", "backward", "3", "200"),
    "sst2_ulmfit_lmft": dict(data="sst2", argv=[*SST2, *LMFT["sst2"], *ENCODER, *ULMFIT, "--pooling", "max+mean",
                                                "--epochs", "4", "--batch-size", "64", "--lr", "0.005",
                                                "--patience", "none", "--time-budget", "20"]),
    "imdb_lmft_fwd": lm_recipe("imdb", "forward", "1", "400"),
    "imdb_lmft_bwd": lm_recipe("imdb", "backward", "1", "400"),
    "imdb_ulmfit_lr5_lmft": dict(data="imdb", argv=[*IMDB, *LMFT["imdb"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                    "--pooling", "max+mean", "--epochs", "2", "--batch-size", "32",
                                                    "--lr", "0.005", "--time-budget", "28"]),
    "imdb_lm2ft_fwd": lm_recipe("imdb", "forward", "1", "400", init="runs/lm2_forward/best"),
    "imdb_lm2ft_bwd": lm_recipe("imdb", "backward", "1", "400", init="runs/lm2_backward/best"),
    "imdb_ulmfit_lr5_lm2ft": dict(data="imdb", argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                     "--pooling", "max+mean", "--epochs", "2", "--batch-size", "32",
                                                     "--lr", "0.005", "--time-budget", "28"]),
    # the same classifier for three epochs (past the 30-minute budget): is it under-trained?
    "imdb_ulmfit_lr5_lm2ft_3ep": dict(data="imdb", argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                         "--pooling", "max+mean", "--epochs", "3", "--batch-size",
                                                         "32", "--lr", "0.005", "--time-budget", "45"]),
    # Miyato et al.'s adversarial training at a smaller radius than imdb_ulmfit_adv's 5
    "sst2_ulmfit_lm2_adv1": sst2_lm2(),
    # sst2_ulmfit_lm2_adv1 was still rising at its fourth and last epoch: six epochs (the slanted
    # triangle stretched over them), and a radius of 2
    "sst2_ulmfit_lm2_adv1_6ep": sst2_lm2(epochs="6", budget="40"),
    "sst2_ulmfit_lm2_adv2": sst2_lm2(radius="2.0"),
    # sst2_ulmfit_lm2_adv1 with another seed (the output layer's initialisation, dropout masks and
    # batch order): how much of its lead is the seed
    "sst2_ulmfit_lm2_adv1_s1": sst2_lm2(seed="1"),
    "sst2_ulmfit_lm2_adv1_s2": sst2_lm2(seed="2"),
    # Miyato et al.'s two losses together: adversarial and virtual adversarial, both at radius 1
    "sst2_ulmfit_lm2_adv1_vat1": sst2_lm2("--virtual-adversarial", "1.0", budget="45"),
    # the negation pairs of the pretrained models (39-52%): is it max+mean pooling (a feature of
    # "charming" survives the max whatever came before it) or reading words alone? The final
    # states only (`last`), and word dropout (whole words replaced by <unk>, so the context must
    # carry the label)
    "sst2_ulmfit_lm2_adv1_last": sst2_lm2(pooling="last"),
    "sst2_ulmfit_lm2_adv1_wd2": sst2_lm2("--word-dropout", "0.2"),
    # the best recipe with GloVe 50d beside the LMs' vectors (--init-from with --vectors, word
    # vector [E_fwd ; E_bwd ; GloVe], the columns reading GloVe starting at zero): the shipped
    # GloVe model gets 76.8% of the negation pairs, the LM-initialised ones 39-52%
    "sst2_ulmfit_lm2_adv1_glove": sst2_lm2(glove=True),
    "sst2_ulmfit_lm2_adv1_glove_s1": sst2_lm2(glove=True, seed="1"),
    "imdb_ulmfit_lr5_lm2ft_adv1_2ep_dp2_glove": dict(data="imdb", processes=2, env={"BPTT_SPARSE_REDUCE": "gather"},
                                                     argv=[*IMDB, *LMFT["imdb2"], "--vectors", GLOVE, *ENCODER,
                                                           *ULMFIT, *IMDB_LEN, "--pooling", "max+mean", "--epochs",
                                                           "2", "--batch-size", "32", "--lr", "0.005",
                                                           "--adversarial", "1.0", "--time-budget", "29"]),
    # `--pooling last` raised the negation pairs from 46-51% to 61.6% (dev 85.32%): its seed
    # spread, mean pooling, last with GloVe beside the LMs, and the shipped GloVe recipe with last
    "sst2_ulmfit_lm2_adv1_last_s1": sst2_lm2(pooling="last", seed="1"),
    "sst2_ulmfit_lm2_adv1_mean": sst2_lm2(pooling="mean"),
    "sst2_ulmfit_lm2_adv1_last_glove": sst2_lm2(pooling="last", glove=True),
    "sst2_glove_adv1_last": sst2_shipped("--adversarial", "1.0", pooling="last"),
    # radius 2 (86.81% with seed 0) with two more seeds: is it better than radius 1 (86.05% mean)?
    "sst2_ulmfit_lm2_adv2_s1": sst2_lm2(radius="2.0", seed="1"),
    "sst2_ulmfit_lm2_adv2_s2": sst2_lm2(radius="2.0", seed="2"),
    # radius 3: does the trend of radius 1 -> 2 (three-seed means 86.05% -> 86.43%) go on?
    "sst2_ulmfit_lm2_adv3": sst2_lm2(radius="3.0"),
    "sst2_ulmfit_lm2_adv3_s1": sst2_lm2(radius="3.0", seed="1"),
    "sst2_ulmfit_lm2_adv3_s2": sst2_lm2(radius="3.0", seed="2"),
    # Polyak averaging of the weights (--ema-decay): the dev scores and best/ are the average's
    "sst2_ulmfit_lm2_adv1_ema": sst2_lm2("--ema-decay", "0.999"),
    "sst2_ulmfit_lm2_adv1_ema_s1": sst2_lm2("--ema-decay", "0.999", seed="1"),
    "sst2_ulmfit_lm2_adv1_ema_s2": sst2_lm2("--ema-decay", "0.999", seed="2"),
    # AWD-LSTM's weight dropout on the recurrent weights (fastai's classifier: weight_p 0.5 x drop_mult)
    "sst2_ulmfit_lm2_adv1_wdrop25": sst2_lm2("--weight-dropout", "0.25"),
    "sst2_ulmfit_lm2_adv1_wdrop5": sst2_lm2("--weight-dropout", "0.5"),
    "sst2_ulmfit_lm2_adv1_wdrop25_s1": sst2_lm2("--weight-dropout", "0.25", seed="1"),
    "sst2_ulmfit_lm2_adv1_wdrop25_s2": sst2_lm2("--weight-dropout", "0.25", seed="2"),
    # the two dropouts, never varied from their defaults (0.3 each) with the LMs
    "sst2_ulmfit_lm2_adv1_edrop5": sst2_lm2("--embedding-dropout", "0.5"),
    "sst2_ulmfit_lm2_adv1_odrop5": sst2_lm2("--output-dropout", "0.5"),
    # ULMFiT's concat pooling [last ; max ; mean]: the last state carried the negation pairs
    # (pooling last: 58-67% against max+mean's 46-51%), max+mean the dev accuracy
    "sst2_ulmfit_lm2_adv1_concat": sst2_lm2(pooling="last+max+mean"),
    "sst2_ulmfit_lm2_adv1_concat_s1": sst2_lm2(pooling="last+max+mean", seed="1"),
    "sst2_ulmfit_lm2_adv1_concat_s2": sst2_lm2(pooling="last+max+mean", seed="2"),
    "sst2_ulmfit_lm2_adv1_concat_glove": sst2_lm2(pooling="last+max+mean", glove=True),
    "sst2_glove_concat": sst2_shipped(pooling="last+max+mean"),
    # the shipped recipe with concat pooling gave 85.55% dev and 86.9% of the pairs (shipped: 84.86%,
    # 76.8%): its seed spread, and adversarial training on it
    "sst2_glove_concat_s1": sst2_shipped("--seed", "1", pooling="last+max+mean"),
    "sst2_glove_concat_s2": sst2_shipped("--seed", "2", pooling="last+max+mean"),
    "sst2_glove_concat_adv1": sst2_shipped("--adversarial", "1.0", pooling="last+max+mean"),
    "sst2_glove_concat_adv1_s1": sst2_shipped("--adversarial", "1.0", "--seed", "1", pooling="last+max+mean"),
    # GloVe's vectors frozen: the word vector can no longer be bent to decide the sentence alone
    "sst2_glove_concat_frozen": sst2_shipped("--freeze-vectors", "true", pooling="last+max+mean"),
    # the new shipped recipe (concat pooling over GloVe) varied: weight dropout on W, two layers,
    # heavier dropout on the word vectors
    "sst2_glove_concat_wdrop25": sst2_shipped("--weight-dropout", "0.25", pooling="last+max+mean"),
    "sst2_glove_concat_2l": sst2_shipped("--num-layers", "2", "--dropout", "0.3", pooling="last+max+mean"),
    "sst2_glove_concat_edrop5": sst2_shipped("--embedding-dropout", "0.5", pooling="last+max+mean"),
    "sst2_glove_concat_odrop5": sst2_shipped("--output-dropout", "0.5", pooling="last+max+mean"),
    # embedding dropout 0.5 gave 89.9% of the pairs (85.32% dev): another seed, and 0.6
    "sst2_glove_concat_edrop5_s1": sst2_shipped("--embedding-dropout", "0.5", "--seed", "1", pooling="last+max+mean"),
    "sst2_glove_concat_edrop6": sst2_shipped("--embedding-dropout", "0.6", pooling="last+max+mean"),
    # pooling last alone, without adversarial training (with it: 85.32%, 73.7% of the pairs)
    "sst2_glove_last": sst2_shipped(pooling="last"),
    # no language model: the shipped sst2 recipe (GloVe 50d, bench/train_sentiment.py) with
    # adversarial training at radius 1, the step that moved the pretrained BiLSTM by two points
    "sst2_glove_adv1": sst2_shipped("--adversarial", "1.0"),
    # the shipped recipe with random word vectors of the same size (E = 50, no GloVe): do the
    # negation pairs come from GloVe's vectors or from the small embedding?
    "sst2_scratch_e50": sst2_shipped(words=("--embedding-dim", "50"), budget="20"),
    # SST-2's best step (adversarial training at radius 1) on IMDB; one epoch, as a step costs
    # about 1.6 plain ones and the whole run must stay under 30 minutes
    "imdb_ulmfit_lr5_lm2ft_adv1": dict(data="imdb", argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                          "--pooling", "max+mean", "--epochs", "1", "--batch-size",
                                                          "32", "--lr", "0.005", "--adversarial", "1.0",
                                                          "--time-budget", "28"]),
    # the budget is 30 minutes on this 2-core machine: one run on both cores, data-parallel
    # (torchrun, 2 processes, the same global batch of 32, so the same steps as one process;
    # the embedding's rows gathered, not densified: docs/distributed.md), adversarial radius 1
    # for two epochs instead of imdb_ulmfit_lr5_lm2ft_adv1's one
    "imdb_ulmfit_lr5_lm2ft_adv1_2ep_dp2": dict(data="imdb", processes=2, env={"BPTT_SPARSE_REDUCE": "gather"},
                                               argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                     "--pooling", "max+mean", "--epochs", "2", "--batch-size", "32",
                                                     "--lr", "0.005", "--adversarial", "1.0", "--time-budget",
                                                     "29"]),
    # radius 2 (SST-2: mean of three seeds 86.43% against radius 1's 86.05%)
    "imdb_ulmfit_lr5_lm2ft_adv2_2ep_dp2": dict(data="imdb", processes=2, env={"BPTT_SPARSE_REDUCE": "gather"},
                                               argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                     "--pooling", "max+mean", "--epochs", "2", "--batch-size", "32",
                                                     "--lr", "0.005", "--adversarial", "2.0", "--time-budget",
                                                     "29"]),
    # the best IMDB recipe with Polyak averaging of the weights (β = 0.995: the last ~200 of 1,250 steps)
    "imdb_ulmfit_lr5_lm2ft_adv1_2ep_dp2_ema": dict(data="imdb", processes=2, env={"BPTT_SPARSE_REDUCE": "gather"},
                                                   argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                         "--pooling", "max+mean", "--epochs", "2", "--batch-size",
                                                         "32", "--lr", "0.005", "--adversarial", "1.0",
                                                         "--ema-decay", "0.995", "--time-budget", "29"]),
    # ... with AWD-LSTM's weight dropout 0.25 on the recurrent weights
    "imdb_ulmfit_lr5_lm2ft_adv1_2ep_dp2_wdrop25": dict(data="imdb", processes=2,
                                                       env={"BPTT_SPARSE_REDUCE": "gather"},
                                                       argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                             "--pooling", "max+mean", "--epochs", "2", "--batch-size",
                                                             "32", "--lr", "0.005", "--adversarial", "1.0",
                                                             "--weight-dropout", "0.25", "--time-budget", "29"]),
    # ... with ULMFiT's concat pooling [last ; max ; mean]
    "imdb_ulmfit_lr5_lm2ft_adv1_2ep_dp2_concat": dict(data="imdb", processes=2,
                                                      env={"BPTT_SPARSE_REDUCE": "gather"},
                                                      argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                            "--pooling", "last+max+mean", "--epochs", "2",
                                                            "--batch-size", "32", "--lr", "0.005", "--adversarial",
                                                            "1.0", "--time-budget", "29"]),
    # a global batch of 64 (32 per process) at twice the rate: more tokens per second from the
    # larger matrix products, so three adversarial epochs may fit in the 30 minutes
    "imdb_ulmfit_lr10_lm2ft_adv1_3ep_dp2_bs64": dict(data="imdb", processes=2, env={"BPTT_SPARSE_REDUCE": "gather"},
                                                     argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                           "--pooling", "max+mean", "--epochs", "3", "--batch-size",
                                                           "64", "--lr", "0.01", "--adversarial", "1.0",
                                                           "--time-budget", "29"]),
    # imdb_ulmfit_lr5_lm2ft_3ep (three plain epochs, 43 minutes on one core) on both cores
    "imdb_ulmfit_lr5_lm2ft_3ep_dp2": dict(data="imdb", processes=2, env={"BPTT_SPARSE_REDUCE": "gather"},
                                          argv=[*IMDB, *LMFT["imdb2"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                "--pooling", "max+mean", "--epochs", "3", "--batch-size", "32",
                                                "--lr", "0.005", "--time-budget", "29"]),
    # sst2_ulmfit from the LMs after their second epoch
    "sst2_ulmfit_lm2": dict(data="sst2", argv=[*SST2, *LMS2, *ENCODER, *ULMFIT, "--pooling", "max+mean", "--epochs", "4",
                                               "--batch-size", "64", "--lr", "0.005", "--patience", "none",
                                               "--time-budget", "20"]),
    # ULMFiT fine-tunes its classifier at a peak of 0.01
    "imdb_ulmfit_lr10_lmft": dict(data="imdb", argv=[*IMDB, *LMFT["imdb"], *ENCODER, *ULMFIT, *IMDB_LEN,
                                                     "--pooling", "max+mean", "--epochs", "2", "--batch-size", "32",
                                                     "--lr", "0.01", "--time-budget", "28"]),
}


def imdb_task_exclude() -> None:
    """The documents of aclImdb/train an IMDB LM fine-tuning must not read: the 5,000 held out
    (``bench/lm_exclude.txt``, with ``urls_unsup.txt``) and the 50,000 unlabelled reviews."""
    unsup = ROOT.parent / "shared" / "data" / "imdb" / "aclImdb" / "train" / "unsup"
    lines = (ROOT / "bench" / "lm_exclude.txt").read_text().split()
    lines += sorted(f"unsup/{p.name}" for p in unsup.glob("*.txt"))
    path = ROOT / IMDB_TASK_EXCLUDE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "\n".join(lines) + "\n")


def run(names: list[str]) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if any("imdb_task_exclude" in " ".join(RECIPES[n]["argv"]) for n in names):
        imdb_task_exclude()
    lm = [n for n in names if RECIPES[n].get("job") == "lm"]
    if lm and len(lm) < len(names):          # LMs first: the sentiment recipes start from them
        return {**run(lm), **run([n for n in names if n not in lm])}
    procs = {}
    for name in names:
        out = ROOT / "runs" / "ft" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        job = RECIPES[name].get("job", "sentiment")
        argv = ["bptt", "train", job, *RECIPES[name]["argv"], "--out", f"runs/ft/{name}", "--overwrite"]
        n = RECIPES[name].get("processes", 1)
        if n > 1:      # data-parallel on this machine's cores: torchrun on 127.0.0.1 (docs/distributed.md)
            argv = ["torchrun", "--nproc-per-node", str(n), "--master-addr", "127.0.0.1", "--master-port",
                    str(free_port()), "-m", "bptt", *argv[1:]]
        log = open(out.parent / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(["/usr/bin/time", "-v", *argv], cwd=ROOT,
                                        env={**env, **RECIPES[name].get("env", {})}, stdout=log,
                                        stderr=subprocess.STDOUT), argv, time.perf_counter())
    records = {}
    for name, (proc, argv, t0) in procs.items():
        code = proc.wait()
        records[name] = record(name, argv, code, time.perf_counter() - t0)
        add_pairs(name, records[name])
    return records


def add_pairs(name: str, rec: dict) -> None:
    """``rec["negation_pairs"]``: the share of bench/negation_pairs.tsv pairs (positive sentence
    and its negation) the recipe's best model gets both right; SST-2 classifiers only."""
    best = ROOT / "runs" / "ft" / name / "best"
    if rec["data"] != "sst2" or rec.get("job") == "lm" or not best.is_dir():
        return
    from bptt.jobs.sentiment import load_sentiment_model
    from sentiment_search import pair_figures
    rec["negation_pairs"] = pair_figures(load_sentiment_model(str(best))[0].predict)["pairs_all"]


def reread(name: str) -> dict:
    """The record of a finished run from what it left: the command, exit status and wall time
    that ``/usr/bin/time -v`` wrote at the end of its log, and its metrics."""
    log = (ROOT / "runs" / "ft" / f"{name}.log").read_text(errors="replace")
    command = re.search(r'Command being timed: "(.*)"', log)
    code = re.search(r"Exit status: (-?\d+)", log)
    if not (command and code):
        raise SystemExit(f"runs/ft/{name}.log: no /usr/bin/time summary (the run did not finish)")
    return record(name, command.group(1).split(), int(code.group(1)), float("nan"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(name: str, argv: list[str], code: int, seconds: float) -> dict:
    log = (ROOT / "runs" / "ft" / f"{name}.log").read_text(errors="replace")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", log)
    if wall:      # the run's own wall time: ``seconds`` also holds the wait for the runs started beside it
        seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.group(1).split(":"))))
    metrics = ROOT / "runs" / "ft" / name / "metrics.jsonl"
    lines = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()] if metrics.is_file() else []
    key = "dev_perplexity" if RECIPES[name].get("job") == "lm" else "dev_accuracy"
    evals = [r for r in lines if key in r]
    best = (min if key == "dev_perplexity" else max)((r[key] for r in evals), default=None)
    env = [f"{k}={v}" for k, v in RECIPES[name].get("env", {}).items()]
    return {"data": RECIPES[name]["data"], "job": RECIPES[name].get("job", "sentiment"),
            "command": " ".join([*env, *argv]),
            "exit": code, "minutes": round(seconds / 60, 1),
            "peak_rss_mb": round(int(rss.group(1)) / 1024) if rss else None,
            "epochs": [{k: r.get(k) for k in ("epoch", "step", "event", key, "tokens_per_s", "elapsed_s")}
                       for r in evals],
            f"best_{key}": best}


def table(records: dict) -> str:
    base = json.loads((RESULTS / "linear_baselines.json").read_text()) if \
        (RESULTS / "linear_baselines.json").is_file() else {}
    lines = ["# Fine-tuning from the review language models: every recipe tried", "",
             "`python bench/finetune_search.py NAME ...`; commands in `finetune_search.json`. Loaded machine "
             "(two runs side by side, one BLAS thread each).", ""]
    for data in ("imdb", "sst2"):
        b = base.get(data)
        lines += [f"## {data}", ""]
        if b:
            lines.append(f"Same split: bag of words {b['bag_of_words']['bag of words']['dev']['accuracy']:.2%}, "
                         f"uni+bigrams {b['bag_of_words']['bag of words + bigrams']['dev']['accuracy']:.2%}, "
                         f"TF-IDF + LR (C by CV) {b['tfidf_lr']['dev_accuracy']:.2%}, "
                         f"(best C on dev) {b['tfidf_lr']['dev_accuracy_best_C_on_dev']:.2%}, "
                         f"NB-LR {b['nblr']['dev_accuracy_best_C_on_dev']:.2%}.")
            lines.append("")
        lms = {n: r for n, r in records.items() if r["data"] == data and r.get("job") == "lm"}
        if lms:
            lines += ["Language models fine-tuned on the task's training text (held-out perplexity, full "
                      "softmax, on 2% of that text):", "",
                      "| recipe | first evaluation | best | per evaluation | minutes | peak RSS MB |",
                      "|---|---|---|---|---|---|"]
            for name, r in lms.items():
                per = [e["dev_perplexity"] for e in r["epochs"]]
                lines.append(f"| {name} | {per[0]:.1f} | {r['best_dev_perplexity']:.1f} | "
                             f"{', '.join(f'{p:.1f}' for p in per)} | {r['minutes']} | {r['peak_rss_mb']} |"
                             if per else f"| {name} | - | - | - | {r['minutes']} | {r['peak_rss_mb']} |")
            lines.append("")
        pairs = data == "sst2"
        lines += ["| recipe | best dev accuracy | dev accuracy per evaluation |"
                  + (" negation pairs fully right |" if pairs else "") + " minutes | peak RSS MB |",
                  "|---|---|---|" + ("---|" if pairs else "") + "---|---|"]
        for name, r in records.items():
            if r["data"] != data or r.get("job") == "lm":
                continue
            per = ", ".join(f"{e['dev_accuracy']:.4f}" for e in r["epochs"])
            best = f"{r['best_dev_accuracy']:.2%}" if r["best_dev_accuracy"] is not None else "-"
            note = f" ({r['note']})" if r.get("note") else ""
            pair = (f" {r['negation_pairs']:.1%} |" if "negation_pairs" in r else " - |") if pairs else ""
            lines.append(f"| {name}{note} | {best} | {per} |{pair} {r['minutes']} | {r['peak_rss_mb']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", help=f"recipes: {', '.join(RECIPES)}")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--pairs", action="store_true", help="add the negation pairs to SST-2 records without them")
    ap.add_argument("--reread", nargs="+", default=[], metavar="NAME",
                    help="rebuild these records from runs/ft/NAME.log and NAME/metrics.jsonl (a record lost)")
    args = ap.parse_args()
    unknown = [n for n in [*args.names, *args.reread] if n not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe {unknown[0]!r}; recipes: {', '.join(RECIPES)}")
    path = RESULTS / "finetune_search.json"
    done = run(args.names) if args.names else {}
    for name in args.reread:
        done[name] = reread(name)
        add_pairs(name, done[name])
    # read after the runs, under a lock: another invocation may have written meanwhile, and two
    # that finish together must not each write the file without the other's records
    (ROOT / "runs").mkdir(exist_ok=True)
    with open(ROOT / "runs" / "finetune_search.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = json.loads(path.read_text()) if path.is_file() else {}
        records.update(done)
        if args.pairs:
            for name, rec in records.items():
                if "negation_pairs" not in rec and name in RECIPES:
                    add_pairs(name, rec)
        write_atomic(path, json.dumps(records, indent=1))
        write_atomic(RESULTS / "finetune_search.md", table(records))


if __name__ == "__main__":
    main()
