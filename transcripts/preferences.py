"""The user's settings page: the vocabulary every upload is told to expect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from .forms import VocabularyForm
from .models import UserSettings


@login_required
def user_settings(request):
    prefs = UserSettings.objects.filter(user=request.user).first() or UserSettings(user=request.user)
    form = VocabularyForm(request.POST or None, initial={"vocabulary": prefs.vocabulary})
    if request.method == "POST" and form.is_valid():
        prefs.vocabulary = form.cleaned_data["vocabulary"]
        prefs.save()
        messages.success(request, f"Saved: {len(prefs.words)} word(s) in your vocabulary.")
        return redirect("user_settings")
    return render(request, "transcripts/settings.html", {"form": form}, status=400 if form.errors else 200)
