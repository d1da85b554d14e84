// On S3 storage, audio above data-min-bytes goes browser → S3 with a presigned
// POST, because API Gateway and Lambda refuse request bodies over ~6 MB.
// Smaller files, text imports, and browsers without JS use the normal form.
(function () {
  "use strict";
  var box = document.getElementById("direct-upload");
  var form = box && box.closest("form");
  if (!form) return;
  var audio = form.querySelector('input[type="file"][name="audio"]');
  var status = box.querySelector("[role=status]");
  var bar = box.querySelector("progress");

  function csrf() {
    var input = form.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf() },
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || "The server refused the upload (" + r.status + ").");
        return body;
      });
    });
  }

  function toS3(grant, file) {
    return new Promise(function (resolve, reject) {
      var data = new FormData();
      Object.keys(grant.fields).forEach(function (k) { data.append(k, grant.fields[k]); });
      data.append("file", file); // S3 ignores fields after the file
      var xhr = new XMLHttpRequest();
      xhr.open("POST", grant.url);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) bar.value = e.loaded / e.total;
      };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else reject(new Error("Storage refused the file (" + xhr.status + ")."));
      };
      xhr.onerror = function () { reject(new Error("The upload was interrupted; try again.")); };
      xhr.send(data);
    });
  }

  form.addEventListener("submit", function (event) {
    var file = audio && audio.files[0];
    if (!file || file.size < Number(box.dataset.minBytes)) return;
    event.preventDefault();
    box.hidden = false;
    status.textContent = "Uploading " + file.name + "…";
    var start = new FormData();
    start.append("name", file.name);
    start.append("size", String(file.size));
    post(box.dataset.startUrl, start)
      .then(function (grant) {
        return toS3(grant, file).then(function () { return grant; });
      })
      .then(function (grant) {
        status.textContent = "Registering…";
        var reg = new FormData();
        reg.append("token", grant.token);
        ["title", "language", "prompt"].forEach(function (name) {
          var field = form.elements[name];
          if (field) reg.append(name, field.value);
        });
        ["word_timestamps", "translate"].forEach(function (name) {
          var box = form.elements[name];
          if (box && box.checked) reg.append(name, "on");
        });
        return post(box.dataset.registerUrl, reg);
      })
      .then(function (done) { window.location.assign(done.url); })
      .catch(function (err) { status.textContent = err.message; });
  });
})();
