// The campaign page (/staff/campaigns/<slug>): as staff type, the preview and the check follow
// (300 ms after the last keystroke), the character counts at once; the toolbar inserts the
// booking and read-more shortcodes. Served from the package (no inline script, no CDN). Without
// it the page still works: "Refresh preview" shows the unsaved text, "Save" saves it.
(function () {
  "use strict";
  var form = document.getElementById("edit");
  var refresh = document.getElementById("refresh-preview");
  if (!form || !refresh) return; // a campaign with a send: nothing to edit
  var body = document.getElementById("body");
  var unsaved = document.getElementById("unsaved");
  var savedNote = document.getElementById("saved-note");
  var checkUrl = refresh.getAttribute("formaction").replace(/\/preview$/, "/check");
  var token = form.querySelector("input[name=csrf_token]").value;
  var timer = null;
  var sent = 0;
  var dirty = false;
  var waiting = false; // a preview of typed fields is on its way into the iframe

  function counts() {
    document.querySelectorAll("[data-count-for]").forEach(function (el) {
      var input = document.getElementById(el.dataset.countFor);
      var n = Array.from(input.value.trim()).length; // code points, as the server counts
      if (!el.dataset.max) {
        el.textContent = n + " characters";
        return;
      }
      var max = parseInt(el.dataset.max, 10);
      el.textContent = n + " / " + max + " characters";
      el.classList.toggle("over", n > max);
    });
  }

  function mirror() { // the inbox line above the preview: sender, subject, preheader
    document.querySelectorAll("[data-mirror]").forEach(function (el) {
      el.textContent = document.getElementById(el.dataset.mirror).value.trim();
    });
  }

  function markDirty() {
    if (dirty) return;
    dirty = true;
    unsaved.hidden = false;
    savedNote.textContent = "Save your changes first: the test and the approval are of the " +
      "campaign as saved.";
    document.querySelectorAll("[data-needs-saved]").forEach(function (button) {
      button.disabled = true;
    });
  }

  function swapFindings(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    fresh.querySelectorAll("[data-findings]").forEach(function (node) {
      var name = node.getAttribute("data-findings");
      var old = document.querySelector('[data-findings="' + name + '"]');
      if (old) old.replaceWith(document.importNode(node, true));
    });
  }

  function update() {
    form.requestSubmit(refresh); // the unsaved fields, compiled, into the iframe named preview
  }

  function check() { // once the preview has loaded: the server reuses its compile
    var mine = ++sent;
    fetch(checkUrl, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token },
    }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html !== null && mine === sent) swapFindings(html); // only the latest answer
    }).catch(function () { /* the preview still updates; the check shows after Save */ });
  }

  document.getElementById("preview").addEventListener("load", function () {
    if (!waiting) return;
    waiting = false;
    check();
  });

  form.addEventListener("input", function () {
    counts();
    mirror();
    markDirty();
    clearTimeout(timer);
    timer = setTimeout(update, 300);
  });

  form.addEventListener("submit", function (event) {
    if (event.submitter === refresh) waiting = true;
    else dirty = false; // Save: leaving the page is expected
  });

  window.addEventListener("beforeunload", function (event) {
    if (dirty) event.preventDefault();
  });

  document.querySelectorAll("[data-insert]").forEach(function (button) {
    button.addEventListener("click", function () {
      var code = button.getAttribute("data-insert");
      var start = body.selectionStart;
      var end = body.selectionEnd;
      var before = body.value.slice(0, start);
      // A shortcode works on a line of its own, with a blank line around it.
      var lead = before === "" || /\n\n$/.test(before) ? "" : /\n$/.test(before) ? "\n" : "\n\n";
      var text = lead + code + "\n\n";
      body.setRangeText(text, start, end, "end");
      var url = code.indexOf("https://") >= 0 ? code.lastIndexOf(" ") + 1 : -1;
      body.focus();
      if (url > 0) { // select the address so typing replaces it
        var at = start + lead.length;
        body.setSelectionRange(at + url, at + code.length - 2);
      }
      body.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });
})();
