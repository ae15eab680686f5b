"""Language identification and word counts."""

from __future__ import annotations

from pipeline.clean.language import language, word_count


def test_language_is_iso_639_1() -> None:
    assert language("The council approved the new budget on Monday after a long debate.", 500) == "en"
    german = "Der Stadtrat hat am Montag nach langer Debatte den neuen Haushalt beschlossen."
    assert language(german, 500) == "de"
    assert language("", 500) is None
    assert language("THE COUNCIL APPROVED THE NEW BUDGET ON MONDAY AFTER A LONG DEBATE.", 500) == "en"
    assert language("市议会周一经过长时间辩论后批准了新的预算。", 500) == "zh"


def test_a_language_without_an_iso_639_1_code_is_none() -> None:
    cebuano = (
        "Ang Cebuano usa ka pinulongan nga gisulti sa mga Bisaya sa Pilipinas. "
        "Kini ang ikaduha sa pinakadaghan nga mamumulong sa nasud."
    )
    assert language(cebuano, 500) is None


def test_only_the_first_characters_are_read() -> None:
    english, german = (
        "The council approved the new budget. " * 5,
        "Der Stadtrat hat den Haushalt beschlossen. " * 50,
    )
    assert language(english + german, len(english)) == "en"


def test_words_of_unspaced_scripts_are_counted() -> None:
    assert word_count("日本語の文章です。これは記事の本文です。") >= 8
