// The reset page's only script. The page works without it; it removes the
// token from the address bar (so it does not stay in history or reach a
// screenshot), and adds a show-password toggle and a live length count.
(function () {
  "use strict";
  if (window.location.search && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.pathname);
  }
  var pw = document.getElementById("password");
  var verify = document.getElementById("passwordVerify");
  var wrap = document.getElementById("show-wrap");
  var show = document.getElementById("show");
  if (pw && wrap && show) {
    wrap.hidden = false;
    show.addEventListener("change", function () {
      var type = show.checked ? "text" : "password";
      pw.type = type;
      if (verify) { verify.type = type; }
    });
  }
  var count = document.getElementById("password-count");
  if (pw && count) {
    var template = count.getAttribute("data-template") || "{n}";
    var update = function () {
      // Code points, as the server counts them.
      var n = Array.from(pw.value).length;
      count.textContent = n === 0 ? "" : template.replace("{n}", String(n));
    };
    pw.addEventListener("input", update);
    update();
  }
})();
