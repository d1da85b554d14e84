// The app's only script (the Content-Security-Policy allows no inline code):
// the detail page (polling, seek, word highlighting, find), confirmations,
// the edit page (one JSON field of changes) and the upload form (drop, progress).
(function () {
  "use strict";

  // Forms that ask before they act: <form data-confirm="…">.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });

  const article = document.getElementById("transcript");
  if (article) detailPage(article);
  const editor = document.getElementById("editor");
  if (editor) editPage(editor);
  const upload = document.getElementById("upload-form");
  if (upload) uploadPage(upload);

  function detailPage(article) {
    const LABELS = { uploaded: "Uploaded", queued: "Queued", processing: "Processing", completed: "Completed", failed: "Failed" };
    const active = ["uploaded", "queued", "processing"];
    const note = document.getElementById("poll-note");

    function stopPolling(message) {
      if (!note) return;
      note.hidden = false;
      note.querySelector("span").textContent = message;
    }

    function showStatus(s) {
      const badge = document.getElementById("status");
      if (badge && LABELS[s.status]) {
        badge.textContent = LABELS[s.status];
        badge.className = `status ${s.status}`;
      }
      const bar = document.getElementById("progress");
      if (bar) bar.value = s.progress;
      const label = document.getElementById("progress-text");
      if (label) {
        label.textContent = s.status === "processing"
          ? `Transcribing… ${Math.round(s.progress * 100)}%`
          : "Waiting for a worker…";
      }
    }

    if (active.includes(article.dataset.status)) {
      let failures = 0;
      const poll = async () => {
        let r;
        try {
          r = await fetch(article.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        } catch (e) {
          // The network or the server is down for a moment: keep trying, slower.
          failures += 1;
          setTimeout(poll, Math.min(1500 * 2 ** failures, 30000));
          return;
        }
        const json = (r.headers.get("Content-Type") || "").startsWith("application/json");
        if (!r.ok || !json || r.redirected) {
          // A sign-in page (expired session) or an error page: asking again won't help.
          stopPolling(r.status === 404
            ? "This transcript no longer exists."
            : "Your session has expired, so progress is no longer shown. Sign in again and reload this page.");
          return;
        }
        failures = 0;
        const s = await r.json();
        showStatus(s);
        if (!s.active) {
          window.location.reload();
          return;
        }
        setTimeout(poll, 1500);
      };
      setTimeout(poll, 1000);
    }

    const player = document.getElementById("player");
    const segments = Array.from(document.querySelectorAll(".segment"));
    const starts = segments.map((li) => parseFloat(li.dataset.start));
    segments.forEach((li) => {
      const seek = () => {
        if (!player) return;
        player.currentTime = parseFloat(li.dataset.start);
        player.play().catch(() => {});
      };
      li.addEventListener("click", seek);
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(); });
    });

    // Word timings arrive as data, [index, [{start, end, word}, …]] per segment;
    // the words become spans only here, which keeps the page small.
    const wordData = document.getElementById("words");
    const wordSpans = new Map();
    if (wordData) {
      JSON.parse(wordData.textContent).forEach(([index, words]) => {
        const li = segments[index];
        const text = li && li.querySelector(".text");
        if (!text) return;
        text.textContent = "";
        const spans = words.map(({ start, end, word }) => {
          const span = document.createElement("span");
          span.className = "word";
          span.dataset.start = start;
          span.dataset.end = end;
          span.textContent = word;
          text.appendChild(span);
          return span;
        });
        wordSpans.set(li, spans);
      });
    }

    if (player && segments.length) {
      let current = null;
      let spoken = null;
      player.addEventListener("timeupdate", () => {
        const t = player.currentTime;
        // The last segment that starts at or before t (segments are in time order).
        let lo = 0;
        let hi = starts.length - 1;
        let found = -1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          if (starts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
        }
        const li = found >= 0 && t < parseFloat(segments[found].dataset.end) ? segments[found] : null;
        if (li !== current) {
          if (current) current.classList.remove("playing");
          if (li) li.classList.add("playing");
          current = li;
        }
        const spans = li ? wordSpans.get(li) : null;
        const word = spans ? spans.find((s) => t >= s.dataset.start && t < s.dataset.end) || null : null;
        if (word !== spoken) {
          if (spoken) spoken.classList.remove("spoken");
          if (word) word.classList.add("spoken");
          spoken = word;
        }
      });
    }

    const find = document.getElementById("find");
    const none = document.getElementById("find-none");
    if (find) {
      find.addEventListener("input", () => {
        const q = find.value.trim().toLowerCase();
        let hits = 0;
        segments.forEach((li) => {
          const hit = !q || li.textContent.toLowerCase().includes(q);
          li.hidden = !hit;
          li.classList.toggle("match", !!q && hit);
          if (hit) hits += 1;
        });
        if (none) {
          none.hidden = !q || hits > 0;
          none.textContent = `No segment contains “${find.value.trim()}”.`;
        }
      });
    }
  }

  function editPage(form) {
    // Only the changed segments travel, as one JSON field: a long meeting has
    // thousands of segments, more than Django takes as separate fields.
    form.addEventListener("submit", () => {
      const edits = {};
      form.querySelectorAll("textarea[data-index]").forEach((area) => {
        if (area.value !== area.defaultValue) edits[area.dataset.index] = area.value;
        area.removeAttribute("name");
      });
      form.elements.edits.value = JSON.stringify(edits);
    });
  }

  function uploadPage(form) {
    // Drop a file anywhere on a field's drop zone; it lands in that field.
    form.querySelectorAll(".dropzone").forEach((zone) => {
      const input = zone.querySelector("input[type=file]");
      ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
        e.preventDefault();
        zone.classList.add("over");
      }));
      ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
      zone.addEventListener("drop", (e) => {
        e.preventDefault();
        if (!e.dataTransfer.files.length) return;
        const files = new DataTransfer();
        files.items.add(e.dataTransfer.files[0]);
        input.files = files.files; // the input shows the file's name itself
      });
    });

    // Send the form with XMLHttpRequest, which reports upload progress; the
    // server's answer (the transcript page, or the form with its errors) then
    // replaces this page as a normal submission would.
    const box = document.getElementById("upload-progress");
    form.addEventListener("submit", (e) => {
      // On S3, direct_upload.js owns the form (large files go to the bucket).
      if (e.defaultPrevented || !box || document.getElementById("direct-upload")) return;
      e.preventDefault();
      const bar = box.querySelector("progress");
      const status = box.querySelector("[role=status]");
      const button = form.querySelector("button[type=submit]");
      box.hidden = false;
      button.disabled = true;
      status.textContent = "Uploading…";
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.upload.onprogress = (p) => {
        if (!p.lengthComputable) return;
        bar.value = p.loaded / p.total;
        status.textContent = `Uploading… ${Math.round((100 * p.loaded) / p.total)}% of ${(p.total / 2 ** 20).toFixed(1)} MB`;
      };
      xhr.upload.onload = () => { status.textContent = "Checking the file…"; };
      xhr.onload = () => {
        if (xhr.status === 200 && xhr.responseURL && new URL(xhr.responseURL).pathname !== window.location.pathname) {
          window.location.assign(xhr.responseURL);
          return;
        }
        const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        const main = doc.querySelector("main");
        if (!main) {
          button.disabled = false;
          status.textContent = `The server refused the upload (${xhr.status}).`;
          return;
        }
        document.querySelector("main").replaceWith(main);
        const again = document.getElementById("upload-form");
        if (again) uploadPage(again);
      };
      xhr.onerror = () => {
        button.disabled = false;
        status.textContent = "The upload was interrupted. Check your connection and try again.";
      };
      xhr.send(new FormData(form));
    });
  }
})();
