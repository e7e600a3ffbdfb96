"""sync.client: connecting with legacy tokens and personal access tokens, and error classes."""

import pytest

from sync.client import LabelStudioAuthError, LabelStudioError, LabelStudioNotFound, connect
from sync.tasks import get_task


@pytest.mark.parametrize("url", ["", "localhost:8080", "ftp://host", "http://"])
def test_connect_rejects_a_url_that_is_not_http(url):
    with pytest.raises(ValueError, match="must look like http://host:port"):
        connect(url, "token")


def test_connect_needs_an_api_key(label_studio):
    with pytest.raises(ValueError, match="API key is required"):
        connect(label_studio.url, "  ")


def test_connect_with_the_legacy_token_checks_it(label_studio):
    client = connect(label_studio.url + "/", label_studio.api_key)
    assert client.users.whoami().email == label_studio.username


def test_a_wrong_token_is_an_auth_error_not_unavailable(label_studio):
    with pytest.raises(LabelStudioAuthError) as caught:
        connect(label_studio.url, "not-the-token-at-all")
    assert caught.value.status == 401
    assert "not-the-token-at-all" not in str(caught.value)


@pytest.mark.filterwarnings("ignore:The `parse_obj` method is deprecated")  # inside label-studio-sdk 2.1.2
def test_connect_with_a_personal_access_token(label_studio):
    personal_token = label_studio.client.tokens.create().token
    client = connect(label_studio.url, personal_token)
    assert client.users.whoami().email == label_studio.username


def test_missing_objects_raise_not_found(label_studio):
    with pytest.raises(LabelStudioNotFound) as caught:
        get_task(label_studio.client, 987654321)
    assert isinstance(caught.value, LabelStudioError) and caught.value.status == 404
