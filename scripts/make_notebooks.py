"""Write the notebooks in notebooks/ and execute them, keeping their outputs and figures.

python scripts/make_notebooks.py   (or: make notebooks)

Everything they print and draw is deterministic: seeded randomness, figures
as SVG with a fixed hash salt and no date. ``tests/test_notebooks.py``
executes them again and compares every output with the committed one.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parents[1] / "notebooks"

#: The first lines of every notebook's first code cell: figures the same bytes on every run.
FIGURES = (
    "# Figures as SVG, the same bytes on every run (tests/test_notebooks.py compares them).\n"
    "%config InlineBackend.figure_formats = ['svg']\n"
    "%config InlineBackend.print_figure_kwargs = {'bbox_inches': 'tight', 'metadata': {'Date': None}}\n"
    "import matplotlib.pyplot as plt\n"
    "plt.rcParams['svg.hashsalt'] = 'discreet'\n"
)

LDP = [
    new_markdown_cell(
        "# LDP accuracy against theory\n\n"
        "Every oracle discreet ships is unbiased with a known variance. Here the "
        "measured mean squared error of the count estimates, divided by n, is "
        "compared with the formula and with the OLH optimum 4e^ε/(e^ε-1)², on "
        "Zipf(1.1) data over 1,000 values, through the same code devices and "
        "servers run."
    ),
    new_code_cell(
        FIGURES
        + "import numpy as np\nfrom discreet.protocol import choose_oracle, optimal_variance\n\n"
        "rng = np.random.default_rng(0)\nd = 1_000\nweights = 1 / np.arange(1, d + 1) ** 1.1\n"
        "weights /= weights.sum()\nepsilons = [0.5, 1.0, 2.0, 4.0]\nsizes = [1_000, 10_000, 100_000]"
    ),
    new_code_cell(
        "rows = []\nfor n in sizes:\n    values = rng.choice(d, size=n, p=weights)\n"
        "    truth = np.bincount(values, minlength=d)\n    for eps in epsilons:\n"
        "        oracle = choose_oracle(d, eps)\n        errors = []\n"
        "        for _ in range(8):\n"
        "            estimate = oracle.estimate(oracle.sketch(oracle.privatise_many(values, rng)), n)\n"
        "            errors.append(np.mean((estimate - truth) ** 2))\n"
        "        theory = float(np.mean(oracle.variance(n, truth)))\n"
        "        rows.append((n, eps, oracle.mechanism, np.mean(errors) / n, theory / n,\n"
        "                     optimal_variance(eps)))\n"
        "for r in rows:\n    print('n=%7d eps=%.1f %-3s measured %.4f  formula %.4f  OLH optimum %.4f' % r)"
    ),
    new_code_cell(
        "fig, axes = plt.subplots(1, 2, figsize=(10, 4))\nfor n in sizes:\n"
        "    sel = [r for r in rows if r[0] == n]\n"
        "    axes[0].plot(epsilons, [r[3] for r in sel], 'o-', label=f'measured, n={n:,}')\n"
        "axes[0].plot(epsilons, [optimal_variance(e) for e in epsilons], 'k--',\n"
        "             label='OLH optimum')\naxes[0].set_yscale('log')\naxes[0].set_xlabel('ε')\n"
        "axes[0].set_ylabel('MSE / n')\naxes[0].legend()\n"
        "axes[1].plot([r[1] for r in rows], [r[3] / r[4] for r in rows], 'o')\n"
        "axes[1].axhline(1, color='k')\naxes[1].set_xlabel('ε')\n"
        "axes[1].set_ylabel('measured / formula')\nplt.tight_layout()"
    ),
    new_code_cell(
        "# The notebook fails if the measurements leave theory behind.\n"
        "ratios = np.array([r[3] / r[4] for r in rows])\n"
        "assert np.all(np.abs(ratios - 1) < 0.2), ratios\nprint('measured/formula:', ratios.round(3))"
    ),
]

UTILITY = [
    new_markdown_cell(
        "# Privacy against utility on MovieLens latest-small\n\n"
        "NDCG@10 of the engine when its popularity prior comes from private "
        "reports of N simulated devices at ε, next to exact popularity and "
        "MostPop. The ranking weights are the ones `discreet eval` chose on the "
        "validation split; the figures are on the test split. The data is read in "
        "place from `../shared` (research use only)."
    ),
    new_code_cell(
        FIGURES + "import tempfile\nfrom pathlib import Path\n"
        "import numpy as np\n"
        "from discreet.evaluation import convert_movielens, load_dataset, split_dataset, evaluate_lists\n"
        "from discreet.evaluation.harness import build_catalog, exact_popularity, private_popularity, with_popularity\n"
        "from discreet.evaluation.recommenders import EngineRecommender, MostPopRecommender\n"
        "from discreet.rank.weights import RankingWeights\n\n"
        "shared = Path.cwd().parents[1] / 'shared' / 'data' / 'ml-latest-small'\n"
        "work = Path(tempfile.mkdtemp())\nitems, interactions = convert_movielens(shared, work / 'data')\n"
        "dataset = load_dataset(items, interactions)\nvalidation, test = split_dataset(dataset)\n"
        "weights = RankingWeights(popularity=2.0, popularity_exponent=1.0, half_life_days=3650.0,\n"
        "                         recent_half_life_events=2.0, mmr_lambda=0.9,\n"
        "                         exploration_share=0.1)  # chosen on validation by discreet eval\n"
        "def ndcg(recommender):\n    recommender.fit(test)\n"
        "    return evaluate_lists({int(u): recommender.recommend(int(u), 20) for u in test.users}, test).ndcg10"
    ),
    new_code_cell(
        "exact = build_catalog(dataset, work / 'exact', exact_popularity(dataset, test), dim=64)\n"
        "reference = {'MostPop': ndcg(MostPopRecommender()), 'engine, exact popularity': ndcg(EngineRecommender(exact, weights))}\n"
        "rng = np.random.default_rng(0)\nresults = {}\n"
        "for clients in (100_000, 1_000_000):\n    for eps in (0.5, 1.0, 2.0, 4.0):\n"
        "        pad = 8 if clients * eps >= 2_000_000 else 1  # long pads pay only with many reports\n"
        "        estimates = private_popularity(dataset, test, clients, eps, pad, rng)\n"
        "        catalog = with_popularity(exact, dataset, estimates, work / f'p-{clients}-{eps}')\n"
        "        results[(clients, eps)] = ndcg(EngineRecommender(catalog, weights))\n"
        "print({name: round(value, 4) for name, value in reference.items()})\n"
        "for key, value in results.items():\n    print(key, round(value, 4))"
    ),
    new_code_cell(
        "fig, ax = plt.subplots(figsize=(6, 4))\nfor clients in (100_000, 1_000_000):\n"
        "    eps = [e for (n, e) in results if n == clients]\n"
        "    ax.plot(eps, [results[(clients, e)] for e in eps], 'o-', label=f'private, N={clients:,}')\n"
        "for name, value in reference.items():\n    ax.axhline(value, linestyle='--', label=name)\n"
        "ax.set_xlabel('ε per report')\nax.set_ylabel('NDCG@10 (test)')\nax.legend()\nplt.tight_layout()"
    ),
    new_code_cell(
        "# More privacy budget or more devices never makes the prior much worse.\n"
        "assert results[(1_000_000, 4.0)] > results[(100_000, 0.5)]\n"
        "assert results[(1_000_000, 4.0)] > 0.8 * reference['engine, exact popularity']"
    ),
]


NOTEBOOKS = {"ldp_accuracy.ipynb": LDP, "privacy_utility.ipynb": UTILITY}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` as the generator writes it, before it runs."""
    notebook = new_notebook(
        cells=NOTEBOOKS[name],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"{Path(name).stem}-{number}"  # stable ids: regenerating changes nothing
    return notebook


def execute(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Run every cell in notebooks/ (where ``../shared`` is found), keeping the outputs.

    One BLAS thread, so that sums add up in the same order on every run; no
    timing metadata, so that nothing in the file says when it ran.
    """
    from nbclient import NotebookClient

    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(HERE)}},
    )
    client.execute()
    return notebook


def write(name: str, folder: Path = HERE) -> None:
    """Build ``name``, execute it and write it, outputs and figures included."""
    nbformat.write(execute(build(name)), folder / name)


if __name__ == "__main__":
    for notebook_name in NOTEBOOKS:
        write(notebook_name)
    print("notebooks executed and written to", HERE)
