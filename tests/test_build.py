"""Catalog builds: determinism, language independence, priors, notices and model cards."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from discreet.catalog.build import build_catalog_files
from discreet.catalog.embedding import EmbeddingParams, fit_embeddings
from discreet.catalog.items import Item, read_items
from discreet.catalog.manifest import CATALOG_FILES, QUANTISED_FILES, Manifest, load_notices
from discreet.catalog.popularity import load_estimates, prior_from_estimates
from discreet.catalog.taxonomy import Taxonomy, load_taxonomy
from discreet.errors import NoticesInvalidError, PopularityInvalidError

WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _build(inputs: tuple[Path, Path], folder: Path, **kwargs: object) -> Manifest:
    taxonomy = load_taxonomy(inputs[1])
    items = read_items(inputs[0], taxonomy)
    result = build_catalog_files(
        items,
        taxonomy,
        folder,
        name="t",
        version=1,
        built_at=WHEN,
        **kwargs,  # type: ignore[arg-type]
    )
    return result.manifest


def test_build_is_deterministic(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    _build(inputs, tmp_path / "a")
    _build(inputs, tmp_path / "b")
    for name in CATALOG_FILES + QUANTISED_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    _build(inputs, tmp_path / "c", params=EmbeddingParams(seed=7, dim=4))
    assert (tmp_path / "c" / "embeddings.npy").read_bytes() != (
        tmp_path / "a" / "embeddings.npy"
    ).read_bytes()


def test_files_are_plain_data(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    manifest = _build(inputs, tmp_path)
    vectors = np.load(tmp_path / "embeddings.npy", allow_pickle=False)
    assert vectors.dtype == np.float32
    assert vectors.shape == (8, manifest.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    doc = json.loads((tmp_path / "manifest.json").read_bytes())
    assert doc["format_version"] == 1
    assert doc["reporting"] == {}
    assert doc["notices"] == []
    assert Manifest.from_json(doc) == manifest


def test_spanish_catalog_embeds_by_meaning_without_english_stop_words(tmp_path: Path) -> None:
    taxonomy = Taxonomy.from_json(
        {
            "categories": [
                {"id": "cocina", "label": "Cocina"},
                {"id": "viajes", "label": "Viajes"},
                {"id": "novela", "label": "Novela"},
            ]
        }
    )
    texts = [
        (
            "Sopas de invierno",
            "Recetas de sopas y guisos calientes para las noches frías.",
            "cocina",
        ),
        ("El arte del guiso", "Guisos lentos, sopas caseras y recetas de la abuela.", "cocina"),
        (
            "Cocina de mercado",
            "Recetas con verduras de temporada compradas en el mercado.",
            "cocina",
        ),
        ("Trenes por los Andes", "Un viaje en tren por las montañas de Perú y Bolivia.", "viajes"),
        ("Caminos de Galicia", "Un viaje a pie por los caminos y pueblos de Galicia.", "viajes"),
        ("Islas del sur", "Viajes en barco entre las islas del sur de Chile.", "viajes"),
        ("La casa del faro", "Una novela sobre una familia, un faro y el mar.", "novela"),
        ("El último verano", "Una novela de amor y pérdida en un pueblo de la costa.", "novela"),
    ]
    items = [Item(f"e{i}", t, d, (c,), language="es") for i, (t, d, c) in enumerate(texts)]
    documents = [f"{i.title}. {i.text} {taxonomy[i.categories[0]].label}" for i in items]
    fitted = fit_embeddings(documents, EmbeddingParams(dim=6))
    sims = fitted.vectors @ fitted.vectors.T
    np.fill_diagonal(sims, -1)
    nearest = sims.argmax(axis=1)
    same = [items[i].categories == items[j].categories for i, j in enumerate(nearest)]
    assert sum(same) >= 7, sims.round(2)


def test_dimension_shrinks_for_tiny_catalogs() -> None:
    fitted = fit_embeddings(
        ["alpha beta", "beta gamma", "gamma delta"], EmbeddingParams(dim=64, char_ngrams=False)
    )
    assert fitted.vectors.shape[1] == fitted.params.dim <= 3


def test_hashing_vectorizer_path_drops_unused_columns() -> None:
    docs = [" ".join(f"w{(i * k) % 97}x" for k in range(1, 12)) for i in range(60)]
    params = EmbeddingParams(dim=8, vectorizer="hashing", hashing_features=2**12)
    fitted = fit_embeddings(docs, params)
    assert fitted.params.vectorizer == "hashing"
    assert fitted.params.char_ngrams is False
    assert fitted.vectors.shape == (60, 8)
    assert fitted.n_features <= 97 < 2**12  # only columns that two or more items use
    again = fitted.pipeline.transform(docs[:2])
    np.testing.assert_allclose(again, fitted.vectors[:2], atol=1e-5)


def test_automatic_choices_follow_catalog_size() -> None:
    small = EmbeddingParams().resolved(1_000)
    large = EmbeddingParams().resolved(60_000)
    assert (small.vectorizer, small.char_ngrams) == ("tfidf", True)
    assert (large.vectorizer, large.char_ngrams) == ("hashing", False)
    assert EmbeddingParams(char_ngrams=True).resolved(60_000).char_ngrams is True


@pytest.mark.parametrize(
    "bad", [{"dim": 0}, {"vectorizer": "bert"}, {"max_df": 0.0}, {"hashing_features": 3}]
)
def test_embedding_params_are_checked(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EmbeddingParams(**bad)  # type: ignore[arg-type]


def test_popularity_priors_from_estimates(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    path = tmp_path / "pop.json"
    path.write_text(
        json.dumps(
            {"estimates": {"b1": 30.0, "b2": {"estimate": 10.0, "stderr": 2}, "b3": -4, "gone": 5}}
        ),
        encoding="utf-8",
    )
    estimates = load_estimates(path)
    manifest = _build(inputs, tmp_path / "out", estimates=estimates)
    prior = np.load(tmp_path / "out" / "popularity.npy", allow_pickle=False)
    assert manifest.popularity_source == "estimates"
    np.testing.assert_allclose(prior[:3], [0.75, 0.25, 0.0])
    assert prior.sum() == pytest.approx(1.0)
    _, unknown = prior_from_estimates(["b1"], estimates)
    assert unknown == 3


def test_popularity_csv_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "pop.csv"
    path.write_text("id,estimate\na,1.5\nb,2\n", encoding="utf-8")
    assert load_estimates(path) == {"a": 1.5, "b": 2.0}
    path.write_text("id,estimate\na,lots\n", encoding="utf-8")
    with pytest.raises(PopularityInvalidError, match=r"pop\.csv:2"):
        load_estimates(path)
    bad = tmp_path / "pop.json"
    bad.write_text('{"estimates": {"a": NaN}}', encoding="utf-8")
    with pytest.raises(PopularityInvalidError, match="not a finite number"):
        load_estimates(bad)
    bad.write_text("[]", encoding="utf-8")
    with pytest.raises(PopularityInvalidError, match="'estimates' map"):
        load_estimates(bad)
    assert prior_from_estimates(["a", "b"], {"a": -1.0})[0].tolist() == [0.5, 0.5]


def test_notices_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "notices.json"
    good = {
        "id": "n1",
        "severity": "critical",
        "title": "Incident",
        "body": "Rotate now.",
        "date": "2026-02-01",
    }
    path.write_text(json.dumps([good]), encoding="utf-8")
    (notice,) = load_notices(path)
    assert notice.severity == "critical"
    assert notice.date == dt.date(2026, 2, 1)
    for broken in (
        {**good, "severity": "loud"},
        {**good, "date": "soon"},
        {**good, "title": ""},
        {**good, "x": 1},
    ):
        path.write_text(json.dumps([broken]), encoding="utf-8")
        with pytest.raises(NoticesInvalidError):
            load_notices(path)


def test_model_artefacts_and_card(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    _build(inputs, tmp_path / "out", model_folder=tmp_path / "model")
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text(encoding="utf-8")
    for heading in ("## Model", "## Data", "## Intended use", "## Limits"):
        assert heading in card
    assert "health, sleep" in card
    pipeline = joblib.load(tmp_path / "model" / "pipeline.joblib")  # publisher's own artefact
    again = pipeline.transform(
        ["The Orchard. A quiet novel about apples, grief and a family farm. Fiction"]
    )
    stored = np.load(tmp_path / "out" / "embeddings.npy", allow_pickle=False)
    np.testing.assert_allclose(again[0], stored[0], atol=1e-5)


def test_manifest_parser_rejects_hostile_values() -> None:
    from discreet.errors import CatalogInvalidError, UnsupportedFormatError

    good = Manifest("t", 1, WHEN, 3, 4, {}, "uniform", 2).to_json()
    assert Manifest.from_json(good).item_count == 3
    for path, value in [
        (("items", "count"), -1),
        (("items", "count"), 10**12),
        (("embeddings", "dim"), True),
        (("embeddings", "dtype"), "object"),
        (("catalog", "name"), "../../etc"),
        (("notices",), [{}] * 50),
    ]:
        doc = json.loads(json.dumps(good))
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(CatalogInvalidError):
            Manifest.from_json(doc)
    with pytest.raises(UnsupportedFormatError, match="update the app"):
        Manifest.from_json({**good, "format_version": 2})


def test_degenerate_text_still_embeds_or_fails_clearly() -> None:
    from discreet.errors import ItemsInvalidError

    repetitive = [f"Title m{i}. a" for i in range(40)]  # every term is too rare or too common
    fitted = fit_embeddings(repetitive, EmbeddingParams(dim=4, char_ngrams=False))
    assert np.isfinite(fitted.vectors).all()
    with pytest.raises(ItemsInvalidError, match="no text to embed"):
        fit_embeddings([". "] * 30, EmbeddingParams(dim=4, char_ngrams=False))
