"""Reading Discord's signed attachment links, and taking only a renewed link to the same
file from Discord's answer."""

from __future__ import annotations

from typing import Any

import pytest

from bot.source_links import (
    has_expired,
    link_expiry,
    needs_renewal,
    same_attachment,
    source_link,
)
from cogs.core.attachment_links import renewed_link

BASE = "https://cdn.discordapp.com/attachments/1/2/cat.png"
NOW = 1_800_000_000.0


def signed(expires: float, base: str = BASE) -> str:
    return f"{base}?ex={int(expires):x}&is={int(expires) - 86400:x}&hm=0a1b2c"


def test_expiry_is_read_from_a_signed_link() -> None:
    assert link_expiry(signed(NOW)) == NOW
    assert link_expiry(signed(NOW) + "&size=512") == NOW


@pytest.mark.parametrize("url", [
    BASE,                                    # unsigned (older links, other hosts)
    f"{BASE}?ex=6a1b2c3d",                   # no signature
    f"{BASE}?ex=zz&is=1&hm=2",               # not hexadecimal
    f"{BASE}?ex=0&is=0&hm=2",                # no time at all
    f"{BASE}?ex=ffffffffffff&is=1&hm=2",     # past the year 9999
    f"{BASE}?ex=1&ex=2&is=1&hm=2",           # said twice
    "http://[::1/",                          # not a URL
])
def test_other_links_have_no_expiry(url: str) -> None:
    assert link_expiry(url) is None
    assert not needs_renewal(url, NOW) and not has_expired(url, NOW)


def test_renewal_is_due_within_the_margin_and_expiry_at_ex() -> None:
    assert not needs_renewal(signed(NOW + 7200), NOW)
    assert needs_renewal(signed(NOW + 600), NOW) and not has_expired(signed(NOW + 600), NOW)
    assert needs_renewal(signed(NOW), NOW) and has_expired(signed(NOW), NOW)


def test_only_the_same_file_counts_as_renewed() -> None:
    assert same_attachment(signed(NOW), signed(NOW + 86400))
    assert not same_attachment(signed(NOW), BASE)  # unsigned: not a renewal
    assert not same_attachment(signed(NOW), signed(NOW, BASE.replace("cat", "dog")))
    assert not same_attachment(signed(NOW), signed(NOW, BASE.replace("cdn.", "evil.")))
    assert not same_attachment(signed(NOW), signed(NOW, BASE.replace("https", "ftp")))


def test_the_source_link_is_a_reframes_image() -> None:
    assert source_link({"image": BASE, "seed": 1}) == BASE
    assert source_link({"prompt": "a cat", "seed": 1}) is None
    assert source_link({"image": 7}) is None


def answer(*entries: Any) -> dict[str, Any]:
    return {"refreshed_urls": list(entries)}


def test_the_renewed_link_for_the_url_asked_is_taken() -> None:
    old, new = signed(NOW), signed(NOW + 86400)
    other = signed(NOW, BASE.replace("cat", "dog"))
    assert renewed_link(answer({"original": old, "refreshed": new}), old) == new
    assert renewed_link(answer({"original": other, "refreshed": other},
                               {"original": old, "refreshed": new}), old) == new
    # Discord may spell the original differently: a lone entry still counts if it is the file.
    assert renewed_link(answer({"original": BASE, "refreshed": new}), old) == new


@pytest.mark.parametrize("body", [
    None, [], "text", {}, {"refreshed_urls": None}, {"refreshed_urls": "x"},
    answer(), answer("text"), answer({"original": signed(NOW)}),
    answer({"original": signed(NOW), "refreshed": 5}),
    answer({"original": signed(NOW), "refreshed": signed(NOW, BASE.replace("cat", "dog"))}),
    answer({"original": signed(NOW), "refreshed": BASE}),
    answer({"original": signed(NOW), "refreshed": signed(NOW) + "&pad=" + "x" * 5000}),
    answer({"original": "a", "refreshed": signed(NOW)},
           {"original": "b", "refreshed": signed(NOW)}),
])
def test_answers_without_a_renewed_link_to_that_file_give_none(body: Any) -> None:
    assert renewed_link(body, signed(NOW)) is None
