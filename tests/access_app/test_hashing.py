"""Secret hashing: the verified-secret cache never lets a wrong or replaced secret through."""
from access_app.hashing import check_secret, hash_secret
from access_app.models import App


def test_cached_verification_still_refuses_wrong_secrets():
    stored = hash_secret("s3cret")
    assert check_secret("s3cret", stored)
    assert check_secret("s3cret", stored)  # served from the cache
    assert not check_secret("s3cret ", stored)
    assert not check_secret("", stored)


def test_new_secret_invalidates_the_old_one():
    app = App(app_code="rotating")
    app.set_secret("old")
    assert app.check_secret("old")
    app.set_secret("new")
    assert not app.check_secret("old")
    assert app.check_secret("new")
