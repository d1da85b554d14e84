"""Settings → API: a user's keys and webhooks. New keys and secrets are shown once."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import webhooks
from .models import ApiKey, WebhookDelivery, WebhookEndpoint


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What uses it, e.g. “Open WebUI”.")


class WebhookForm(forms.Form):
    url = forms.URLField(max_length=500, label="Webhook URL", assume_scheme="https")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if problem := webhooks.url_problem(url):
            raise forms.ValidationError(problem)
        return url


@login_required
def api_settings(request):
    key_form, hook_form, shown = KeyForm(prefix="key"), WebhookForm(prefix="hook"), {}
    if request.method == "POST" and "key-name" in request.POST:
        key_form = KeyForm(request.POST, prefix="key")
        if key_form.is_valid():
            row, shown["key"] = ApiKey.issue(request.user, key_form.cleaned_data["name"])
    elif request.method == "POST":
        hook_form = WebhookForm(request.POST, prefix="hook")
        if hook_form.is_valid():
            hook = WebhookEndpoint.objects.create(
                owner=request.user,
                url=hook_form.cleaned_data["url"],
                secret=WebhookEndpoint.new_secret(),
                base_url=request.build_absolute_uri("/").rstrip("/"),
            )
            shown["secret"], hook_form = hook.secret, WebhookForm(prefix="hook")
    context = {
        "key_form": key_form,
        "hook_form": hook_form,
        "shown": shown,
        "keys": ApiKey.objects.filter(owner=request.user),
        "webhooks": WebhookEndpoint.objects.filter(owner=request.user, transcript__isnull=True),
        "deliveries": WebhookDelivery.objects.filter(endpoint__owner=request.user).select_related("endpoint")[
            :20
        ],
    }
    status = 400 if key_form.errors or hook_form.errors else 200
    return render(request, "transcripts/api_settings.html", context, status=status)


@login_required
@require_POST
def revoke_key(request, key_id: int):
    key = get_object_or_404(ApiKey, id=key_id, owner=request.user)
    key.revoke()
    messages.success(request, f"Revoked the key {key.prefix}…")
    return redirect("api_settings")


@login_required
@require_POST
def delete_webhook(request, webhook_id: int):
    hook = get_object_or_404(WebhookEndpoint, id=webhook_id, owner=request.user, transcript__isnull=True)
    hook.delete()
    messages.success(request, f"Removed the webhook {hook.url}")
    return redirect("api_settings")
