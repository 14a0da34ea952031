"""Admin messages are set up only for requests that use them (config.middleware.LazyMessageMiddleware)."""

from unittest.mock import patch

import pytest
from django.contrib import messages
from django.contrib.messages.storage import default_storage
from django.http import HttpResponse
from django.test import RequestFactory

from config.middleware import LazyMessageMiddleware

pytestmark = pytest.mark.django_db


def test_a_request_that_uses_no_message_builds_no_storage(client):
    with patch("config.middleware.default_storage", side_effect=default_storage) as storage:
        assert client.get("/healthz").status_code == 200
    storage.assert_not_called()


def test_a_message_added_during_a_request_is_stored_for_the_next_one(settings):
    settings.MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"
    request = RequestFactory().get("/admin/")

    def view(request):
        messages.success(request, "queued again")
        return HttpResponse("ok")

    response = LazyMessageMiddleware(view)(request)
    follow_up = RequestFactory().get("/admin/")
    follow_up.COOKIES["messages"] = response.cookies["messages"].value
    LazyMessageMiddleware(lambda r: None).process_request(follow_up)
    assert [str(m) for m in messages.get_messages(follow_up)] == ["queued again"]
