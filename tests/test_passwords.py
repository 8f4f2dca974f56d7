"""Web Connector passwords: scrypt by default at N=2**14; the parameters stored with a hash are the
ones that verify it (the tests store cheaper hashes to log in hundreds of times)."""

from __future__ import annotations

from qbsync.sync.passwords import hash_password, verify_password


def test_the_stored_parameters_are_the_ones_verified():
    strong, cheap = hash_password("pw"), hash_password("pw", cost=2**4)
    assert strong.split("$")[:4] == ["scrypt", "16384", "8", "1"] and cheap.split("$")[1] == "16"
    assert verify_password("pw", strong) and verify_password("pw", cheap)
    assert not verify_password("px", cheap) and not verify_password("pw", cheap.replace("$16$", "$32$"))
