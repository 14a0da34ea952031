"""Sign-in through the identity provider (mozilla-django-oidc's names, so its views find each other)."""

from django.urls import path

from accounts import oidc

urlpatterns = [
    path("authenticate/", oidc.SignInView.as_view(), name="oidc_authentication_init"),
    path("callback/", oidc.CallbackView.as_view(), name="oidc_authentication_callback"),
]
