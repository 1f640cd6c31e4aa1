// Setup pages (access numbers, keywords, autoresponders). Every form works without this script; it
// adds conveniences: filters that apply on change, a question before deleting, operator presets that
// fill in the MMS settings, and the keyword's action list (add, remove, reorder, only the fields an
// action type needs).
(function () {
  "use strict";

  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", function () { select.form.submit(); });
  }

  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  }

  // --- MMS presets (docs/mms.md) -------------------------------------------------------------------
  const preset = document.getElementById("preset");
  if (preset) {
    const fields = ["mmsc_url", "mms_proxy", "mms_apn", "mms_apn_user", "mms_apn_password"];
    preset.addEventListener("change", function () {
      const option = preset.selectedOptions[0];
      if (!option || !option.value) return;
      for (const name of fields) {
        const input = document.getElementById(name);
        if (input) input.value = option.getAttribute("data-" + name.replace(/_/g, "-")) || "";
      }
      // A preset without a password: the stored one goes too, as the operator asks for none.
      const clear = document.getElementById("clear_password");
      if (clear) clear.checked = !option.getAttribute("data-mms-apn-password");
      const enabled = document.getElementById("mms_enabled");
      if (enabled) enabled.checked = true;
    });
  }

  // --- keyword actions -----------------------------------------------------------------------------
  const list = document.getElementById("actions");
  const template = document.getElementById("action-template");
  if (!list || !template) return;
  const form = list.closest("form");
  const number = document.getElementById("access_number");
  const account = document.getElementById("account");

  for (const element of document.querySelectorAll("[data-script-only]")) element.hidden = false;

  // The account whose groups, polls, contests and targets an action may use: the one chosen, else
  // the owner of the dedicated number chosen; unknown (every option shown) on a shared number.
  function keywordAccount() {
    if (account && account.value) return account.value;
    const option = number && number.selectedOptions[0];
    return option ? option.getAttribute("data-owner") || "" : "";
  }

  function showAccountOptions(row) {
    const owner = keywordAccount();
    for (const option of row.querySelectorAll("option[data-account]")) {
      option.hidden = owner !== "" && option.getAttribute("data-account") !== owner;
      if (option.hidden && option.selected) option.parentElement.closest("select").value = "";
    }
    for (const group of row.querySelectorAll("optgroup")) {
      group.hidden = !group.querySelector("option:not([hidden])");
    }
  }

  function showDetails(row) {
    const type = row.querySelector("[data-action-type]").value;
    for (const detail of row.querySelectorAll(".action-detail")) {
      detail.hidden = detail.getAttribute("data-for") !== type;
    }
  }

  function prepare(row) {
    row.querySelector("[data-action-type]").addEventListener("change", function () { showDetails(row); });
    row.querySelector("[data-remove]").addEventListener("click", function () {
      row.remove();
      if (!list.querySelector("[data-action]")) addRow();
    });
    for (const button of row.querySelectorAll("[data-move]")) {
      button.addEventListener("click", function () {
        const sibling = button.getAttribute("data-move") === "-1" ? row.previousElementSibling : row.nextElementSibling;
        if (!sibling) return;
        if (button.getAttribute("data-move") === "-1") list.insertBefore(row, sibling);
        else list.insertBefore(sibling, row);
        button.focus();
      });
    }
    showDetails(row);
    showAccountOptions(row);
  }

  function addRow() {
    const index = list.querySelectorAll("[data-action]").length + 1000;  // unique until renumbered
    const html = template.innerHTML.replace(/__index__/g, String(index));
    list.insertAdjacentHTML("beforeend", html);
    const row = list.lastElementChild;
    for (const element of row.querySelectorAll("[data-script-only]")) element.hidden = false;
    prepare(row);
    return row;
  }

  // The server reads the rows in the order of their numbers: number them as they stand on the page.
  function renumber() {
    list.querySelectorAll("[data-action]").forEach(function (row, index) {
      for (const element of row.querySelectorAll("[name], [id], [for], [aria-describedby]")) {
        for (const attribute of ["name", "id", "for", "aria-describedby"]) {
          const value = element.getAttribute(attribute);
          if (value) element.setAttribute(attribute, value.replace(/^actions-\d+-/, "actions-" + index + "-"));
        }
      }
    });
  }

  // The empty row a page without script needs for adding an action: the button does that here.
  const rows = list.querySelectorAll("[data-action]");
  const last = rows[rows.length - 1];
  if (rows.length > 1 && !last.querySelector("[data-action-type]").value && !last.querySelector(".errors")) last.remove();
  for (const row of list.querySelectorAll("[data-action]")) prepare(row);
  document.getElementById("add-action").addEventListener("click", function () {
    addRow().querySelector("[data-action-type]").focus();
  });
  for (const control of [number, account]) {
    if (control) control.addEventListener("change", function () {
      for (const row of list.querySelectorAll("[data-action]")) showAccountOptions(row);
    });
  }
  form.addEventListener("submit", renumber);
})();
