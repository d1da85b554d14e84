// Detail page: poll while work is under way, seek on segment click, find in text.
(function () {
  const article = document.getElementById("transcript");
  if (!article) return;

  const active = ["uploaded", "queued", "processing"];
  if (active.includes(article.dataset.status)) {
    const poll = async () => {
      try {
        const r = await fetch(article.dataset.statusUrl, { headers: { Accept: "application/json" } });
        if (r.ok) {
          const s = await r.json();
          const bar = document.getElementById("progress");
          if (bar) bar.value = s.progress;
          const label = document.getElementById("progress-text");
          if (label && s.status === "processing") label.textContent = `Transcribing… ${Math.round(s.progress * 100)}%`;
          if (!s.active) return window.location.reload();
        }
      } catch (e) { /* network blip: try again */ }
      setTimeout(poll, 1500);
    };
    setTimeout(poll, 1000);
  }

  const player = document.getElementById("player");
  const segments = document.querySelectorAll(".segment");
  segments.forEach((li) => {
    const seek = () => {
      if (!player) return;
      player.currentTime = parseFloat(li.dataset.start);
      player.play().catch(() => {});
    };
    li.addEventListener("click", seek);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(); });
  });
  if (player && segments.length) {
    player.addEventListener("timeupdate", () => {
      const t = player.currentTime;
      segments.forEach((li) => li.classList.toggle("playing", t >= li.dataset.start && t < li.dataset.end));
    });
  }

  const find = document.getElementById("find");
  if (find) {
    find.addEventListener("input", () => {
      const q = find.value.trim().toLowerCase();
      segments.forEach((li) => {
        const hit = !q || li.textContent.toLowerCase().includes(q);
        li.hidden = !hit;
        li.classList.toggle("match", !!q && hit);
      });
    });
  }
})();
