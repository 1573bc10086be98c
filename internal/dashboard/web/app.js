// The Baton dashboard's page. Every piece of cluster text (names, images,
// reasons, messages) is untrusted: it only ever reaches the DOM as a text
// node or an attribute value, never as markup.
"use strict";

let csrf = "";
let current = null;

// el makes an element; strings among the children become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "disabled" || k === "value" || k === "selected") node[k] = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}

function when(stamp) {
  if (!stamp) return "";
  const d = new Date(stamp);
  const secs = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
  if (secs < 90) return secs + "s ago";
  if (secs < 5400) return Math.round(secs / 60) + "m ago";
  if (secs < 129600) return Math.round(secs / 3600) + "h ago";
  return Math.round(secs / 86400) + "d ago";
}

// For these conditions True is what needs a look (an image held back, a
// change Baton did not make, a person must act), so True is not green.
const trueIsTrouble = ["Held", "Drifted", "Stalled", "Suspended"];

// Status colours always come with a symbol and words, for people who do not
// see the colour.
function badge(status, type) {
  if (trueIsTrouble.includes(type) && status === "True") return el("span", { class: "badge s-warn" }, "! True");
  const sym = { True: "✓", False: "✗" }[status] || "?";
  return el("span", { class: "badge s-" + String(status).toLowerCase() }, sym + " " + status);
}

function conditionList(conds) {
  return el("ul", { class: "conds", "aria-label": "Conditions" },
    conds.map((c) => el("li", { "data-condition": c.type },
      el("strong", {}, c.type + " "), badge(c.status, c.type), " ",
      el("span", {}, c.reason), c.message ? el("span", { class: "why" }, " — " + c.message) : null)));
}

function noPermission(what, env) {
  return "Your RBAC does not allow you to " + what + " in " + env + " (checked with SelfSubjectAccessReview)";
}

function promotionView(p, env, can) {
  const box = el("div", { class: "promo", "data-promotion": p.name },
    el("p", {}, el("span", { class: "phase p-" + p.phase, "data-phase": p.phase }, p.phase), " ",
      el("span", { class: "mono" }, p.name)),
    el("p", {}, "Target: ", el("span", { class: "mono" }, p.target)),
    el("p", {}, "Requested by ", el("strong", {}, p.requestedBy),
      p.approvedBy && p.approvedBy.length ? [", approved by ", el("strong", { class: "approved-by" }, p.approvedBy.join(", "))] : null,
      p.canceledBy ? [", canceled by ", el("strong", {}, p.canceledBy)] : null,
      " · " + when(p.created)),
    p.reason ? el("p", { class: "reason" }, "Reason: ", el("span", { class: "reason-text" }, p.reason)) : null,
    el("p", { class: "why" }, p.why));
  const buttons = el("div", { class: "buttons" });
  if (p.approvable) {
    const allowed = can.approve;
    buttons.append(el("button", {
      type: "button", "data-approve": p.name, disabled: !allowed,
      title: allowed ? "Approve " + p.name : noPermission("approve", env),
      "aria-label": "Approve " + p.name,
    }, "Approve"));
  }
  if (p.cancelable) {
    const allowed = p.rollback ? can.cancelRollback : can.cancel;
    buttons.append(el("button", {
      type: "button", class: "secondary", "data-cancel": p.name, disabled: !allowed,
      title: allowed ? "Cancel " + p.name : noPermission("cancel", env),
      "aria-label": "Cancel " + p.name,
    }, "Cancel"));
  }
  if (buttons.childElementCount) box.append(buttons);
  return box;
}

function upstreamOf(name) {
  return current.environments.find((e) => e.name === name);
}

function promoteForm(e) {
  const allowed = e.can.promote;
  const id = "promote-" + e.name;
  let choice;
  if (e.upstream) {
    const up = upstreamOf(e.upstream);
    const options = [el("option", { value: "" }, "newest verified in " + e.upstream)];
    for (const v of (up ? up.verified : [])) options.push(el("option", { value: v.image }, v.image));
    choice = el("label", {}, "Image", el("select", { id: "image-" + id, name: "image", disabled: !allowed }, options));
  } else {
    choice = el("label", {}, "Image", el("input", { id: "image-" + id, name: "image", required: true, placeholder: "registry/app:tag", disabled: !allowed }));
  }
  return el("form", { class: "act", "data-action": "promote", "data-env": e.name, "aria-label": "Promote into " + e.name },
    choice,
    el("label", {}, "Reason", el("input", { id: "reason-" + id, name: "reason", required: true, maxlength: 1024, disabled: !allowed })),
    el("button", { type: "submit", id: id, disabled: !allowed, title: allowed ? "Promote into " + e.name : noPermission("promote", e.name) }, "Promote"));
}

function undoForm(e) {
  const allowed = e.can.rollback;
  const id = "undo-" + e.name;
  const options = [el("option", { value: "0" }, "previous successful revision")];
  for (const r of e.history) {
    if (!r.current && (r.result === "Succeeded" || r.result === "Adopted")) {
      options.push(el("option", { value: String(r.revision) }, "revision " + r.revision + ": " + r.image));
    }
  }
  return el("form", { class: "act", "data-action": "undo", "data-env": e.name, "aria-label": "Roll back " + e.name },
    el("label", {}, "Back to", el("select", { id: "revision-" + id, name: "toRevision", disabled: !allowed }, options)),
    el("label", {}, "Reason", el("input", { id: "reason-" + id, name: "reason", required: true, maxlength: 1024, disabled: !allowed })),
    el("button", { type: "submit", class: "secondary", id: id, disabled: !allowed, title: allowed ? "Roll back " + e.name : noPermission("roll back", e.name) }, "Roll back"));
}

function historyTable(e) {
  if (!e.history.length) return el("p", { class: "muted" }, "No revisions yet.");
  return el("table", { "aria-label": "History of " + e.name },
    el("thead", {}, el("tr", {}, ["Rev", "Image", "Result", "By", "Approved by", "Commit", "When"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, e.history.slice(0, 10).map((r) => el("tr", { "data-revision": r.revision },
      el("td", {}, String(r.revision) + (r.current ? " (current)" : "")),
      el("td", { class: "mono" }, r.image),
      el("td", {}, r.result + (r.rollback ? " (rollback)" : "")),
      el("td", {}, r.requestedBy || "-"),
      el("td", {}, (r.approvedBy || []).join(", ") || "-"),
      el("td", { class: "mono" }, r.commit ? r.commit.slice(0, 7) : "-"),
      el("td", {}, when(r.started))))));
}

function eventList(e) {
  if (!e.events.length) return el("p", { class: "muted" }, "No recent Events.");
  return el("ul", { class: "plain" }, e.events.map((ev) => el("li", {},
    el("strong", {}, (ev.type === "Warning" ? "⚠ " : "") + ev.reason), " ",
    el("span", { class: "mono" }, ev.object), " ", el("span", { class: "why" }, ev.message + " · " + when(ev.time)))));
}

function environmentView(e) {
  const ready = e.conditions.find((c) => c.type === "Ready");
  return el("article", { class: "env", id: "env-" + e.name, "data-env": e.name, "aria-labelledby": "title-" + e.name },
    el("h2", { id: "title-" + e.name }, e.name, " ", ready ? badge(ready.status) : null),
    el("p", { class: "muted" }, e.upstream ? "takes what " + e.upstream + " verified" : "entry environment",
      " · " + e.workload + " · " + e.approvals, e.suspended ? " · suspended" : ""),
    el("dl", { class: "facts" },
      el("dt", {}, "Image"), el("dd", { class: "mono current-image" }, e.image || "not observed yet"),
      el("dt", {}, "Revision"), el("dd", { class: "current-revision" }, e.revision ? String(e.revision) + " · since " + when(e.since) : "-"),
      el("dt", {}, "Verified"), el("dd", { class: "mono" }, e.verified.length ? e.verified.slice(0, 3).map((v) => v.image).join(", ") : "none yet"),
      e.rejected && e.rejected.length ? [el("dt", {}, "Held"), el("dd", { class: "mono" }, e.rejected.join(", "))] : null),
    conditionList(e.conditions),
    el("h3", {}, "Promotions"),
    e.active ? [el("p", { class: "muted" }, "Holding the lease:"), promotionView(e.active, e.name, e.can)] : el("p", { class: "muted" }, "Nothing in flight."),
    e.queued.length ? [el("p", { class: "muted" }, "Queued, in the order Baton takes them:"), e.queued.map((p) => promotionView(p, e.name, e.can))] : null,
    promoteForm(e),
    undoForm(e),
    e.recent.length ? el("details", {}, el("summary", {}, "Finished Promotions (" + e.recent.length + ")"), e.recent.map((p) => promotionView(p, e.name, e.can))) : null,
    el("h3", {}, "History"), historyTable(e),
    el("h3", {}, "Events"), eventList(e));
}

// render replaces the pipeline, keeping what the user was typing and where
// the focus was.
function render(state) {
  current = state;
  csrf = state.csrf;
  document.getElementById("who").textContent = "namespace " + state.namespace + " · as " + state.user;
  const notes = document.getElementById("notes");
  notes.replaceChildren(...(state.notes || []).map((n) => el("p", {}, n)));

  const kept = {};
  for (const input of document.querySelectorAll("#pipeline input, #pipeline select")) kept[input.id] = input.value;
  const focused = document.activeElement && document.activeElement.id;

  const stages = [];
  for (const e of state.environments) {
    (stages[e.depth] = stages[e.depth] || []).push(e);
  }
  const pipeline = document.getElementById("pipeline");
  const children = [];
  stages.forEach((envs, i) => {
    if (!envs) return;
    if (children.length) children.push(el("div", { class: "arrow", "aria-hidden": "true" }, "→"));
    children.push(el("div", { class: "stage", "data-stage": i }, envs.map(environmentView)));
  });
  if (!children.length) children.push(el("p", { class: "muted" }, "No Environments in namespace " + state.namespace + "."));
  pipeline.replaceChildren(...children);

  for (const [id, value] of Object.entries(kept)) {
    const input = document.getElementById(id);
    if (input && !input.disabled && [...(input.options || [{ value }])].some((o) => o.value === value)) input.value = value;
  }
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}

function say(ok, text) {
  document.getElementById(ok ? "result" : "error").textContent = text;
  document.getElementById(ok ? "error" : "result").textContent = "";
}

// act sends one action; after a success it clears the form it came from.
async function act(path, body, form) {
  try {
    const resp = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const text = await resp.text();
    let res;
    try { res = JSON.parse(text); } catch (_) { res = { error: text }; }
    say(resp.ok, resp.ok ? res.message : "Refused: " + res.error);
    if (resp.ok && form) form.reset();
  } catch (err) {
    say(false, "The dashboard did not answer: " + err);
  }
}

document.addEventListener("submit", (ev) => {
  const form = ev.target;
  ev.preventDefault();
  const data = new FormData(form);
  const env = form.getAttribute("data-env");
  if (form.getAttribute("data-action") === "promote") {
    act("/api/promote", { environment: env, image: String(data.get("image") || ""), reason: String(data.get("reason") || "") }, form);
  } else {
    act("/api/undo", { environment: env, toRevision: Number(data.get("toRevision") || 0), reason: String(data.get("reason") || "") }, form);
  }
});

document.addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-approve], button[data-cancel]");
  if (!button || button.disabled) return;
  if (button.hasAttribute("data-approve")) act("/api/approve", { promotion: button.getAttribute("data-approve") });
  else act("/api/cancel", { promotion: button.getAttribute("data-cancel") });
});

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => { live.textContent = "● live"; });
  source.addEventListener("state", (ev) => render(JSON.parse(ev.data)));
  source.addEventListener("error", () => { live.textContent = "○ reconnecting"; });
}

// Ages ("3m ago") move on without any change in the cluster.
setInterval(() => { if (current) render(current); }, 30000);

fetch("/api/state", { credentials: "same-origin" })
  .then((r) => (r.ok ? r.json() : r.text().then((t) => Promise.reject(new Error(t)))))
  .then(render)
  .catch((err) => say(false, "Cannot load the dashboard: " + err.message))
  .finally(connect);
