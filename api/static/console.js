// The staff console: plain fetch + EventSource, no build step. Text from the server is only ever set
// with textContent, never as HTML.
(function () {
  "use strict";

  const CSRF_COOKIE = "pba_console_csrf";
  const $ = (id) => document.getElementById(id);
  const state = {
    staff: null, threadId: null, thread: null, events: null, refreshTimer: null,
    patientId: null, outreachTimer: null,
  };

  function csrfToken() {
    const prefix = CSRF_COOKIE + "=";
    const found = document.cookie.split("; ").find((c) => c.startsWith(prefix));
    return found ? decodeURIComponent(found.slice(prefix.length)) : "";
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(typeof data.detail === "string" ? data.detail : "Request failed");
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function say(text) { $("status").textContent = text; }

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }

  const money = (cents) => (cents < 0 ? "-" : "") + "$" + (Math.abs(cents) / 100).toFixed(2);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  const waited = (s) => (s < 3600 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h");
  const canDecide = () => state.staff && (state.staff.role === "manager" || state.staff.role === "admin");

  // ------------------------------------------------------------------ sign in / out

  function showLogin() {
    state.staff = null;
    if (state.events) state.events.close();
    $("whoami").hidden = true;
    $("work-view").hidden = true;
    $("outreach-view").hidden = true;
    $("views").hidden = true;
    stopOutreachRefresh();
    $("login-view").hidden = false;
    $("login-email").focus();
  }

  async function showWork(staff) {
    state.staff = staff;
    $("staff-label").textContent = staff.email + " (" + staff.role + ")";
    $("whoami").hidden = false;
    $("login-view").hidden = true;
    $("views").hidden = false;
    await Promise.all([loadQueue(), loadApprovals(), loadOutageHandoffs(), loadAnalytics()]);
    listen();
    await showView();
  }

  // ------------------------------------------------------------------ pages

  async function showView() {
    if (!state.staff) return;
    const outreach = location.hash === "#outreach";
    $("work-view").hidden = outreach;
    $("outreach-view").hidden = !outreach;
    [["tab-outreach", outreach], ["tab-conversations", !outreach]].forEach(([id, on]) => {
      if (on) $(id).setAttribute("aria-current", "page");
      else $(id).removeAttribute("aria-current");
    });
    if (outreach) await openOutreach();
    else stopOutreachRefresh();
  }

  window.addEventListener("hashchange", () => { showView().catch((error) => say(error.message)); });

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    try {
      const result = await api("POST", "/v1/console/login", {
        email: $("login-email").value,
        password: $("login-password").value,
      });
      $("login-password").value = "";
      await showWork(result.staff);
      say("Signed in.");
    } catch (error) {
      $("login-error").textContent = error.message;
    }
  });

  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/v1/console/logout"); } catch (error) { /* already signed out */ }
    showLogin();
    say("Signed out.");
  });

  // ------------------------------------------------------------------ lists

  async function loadQueue() {
    const items = await api("GET", "/v1/console/queue");
    const list = $("queue");
    list.replaceChildren();
    $("queue-count").textContent = "(" + items.length + ")";
    items.forEach((item) => {
      const t = item.thread;
      const label = [
        (t.escalation_reason || "escalated").replace(/_/g, " "),
        t.channel,
        item.state === "held" ? "held by " + (t.holder_email || t.holder) : item.state,
        "waiting " + waited(item.waiting_s),
      ].join(" · ");
      const button = el("button", { type: "button", "data-thread": t.id }, [
        el("span", { class: "prio prio-" + (t.escalation_priority || "normal"), text: t.escalation_priority || "normal" }),
        el("span", { text: label }),
      ]);
      if (t.id === state.threadId) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => openThread(t.id));
      list.appendChild(el("li", {}, [button]));
    });
    if (!items.length) list.appendChild(el("li", { class: "hint", text: "Nobody is waiting." }));
  }

  async function loadApprovals() {
    const items = await api("GET", "/v1/console/approvals");
    const list = $("approvals");
    list.replaceChildren();
    items.forEach((a) => {
      const button = el("button", { type: "button" }, [
        el("span", { text: money(a.total_cents) + " over " + a.months + " months (" + money(a.installment_cents) + "/month)" }),
      ]);
      button.addEventListener("click", () => openThread(a.thread_id));
      list.appendChild(el("li", {}, [button]));
    });
    if (!items.length) list.appendChild(el("li", { class: "hint", text: "No plan is waiting." }));
  }

  async function loadOutageHandoffs() {
    const items = await api("GET", "/v1/console/outage-handoffs");
    const list = $("outage-handoffs");
    list.replaceChildren();
    $("outage-count").textContent = "(" + items.length + ")";
    items.forEach((h) => {
      const who = h.patient_id ? "patient " + h.patient_id : "not verified";
      const button = el("button", { type: "button" }, [
        el("span", { text: h.reference + " · " + h.channel + " · " + who }),
        el("span", { class: "hint", text: new Date(h.created_at).toLocaleString() }),
      ]);
      button.addEventListener("click", () => openThread(h.thread_id));
      list.appendChild(el("li", {}, [button]));
    });
    if (!items.length) list.appendChild(el("li", { class: "hint", text: "None queued." }));
  }

  async function loadAnalytics() {
    const a = await api("GET", "/v1/console/analytics?days=14");
    const pct = (x) => Math.round(x * 100) + "%";
    const rows = [
      ["Conversations", String(a.conversations)],
      ["Resolved without a human", pct(a.resolution_rate)],
      ["Handoff rate", pct(a.handoff_rate)],
      ["Median first human reply", a.median_first_human_reply_s == null ? "—" : waited(a.median_first_human_reply_s)],
      ["Top intents", a.top_intents.map((i) => i.intent + " (" + i.count + ")").join(", ") || "—"],
    ];
    const dl = $("analytics");
    dl.replaceChildren();
    rows.forEach(([k, v]) => { dl.appendChild(el("dt", { text: k })); dl.appendChild(el("dd", { text: v })); });
    const body = $("analytics-days").tBodies[0];
    body.replaceChildren();
    a.by_day.filter((d) => d.conversations > 0).forEach((d) => {
      body.appendChild(el("tr", {}, [d.day, d.conversations, d.handoffs, d.resolved_without_human]
        .map((v) => el("td", { text: String(v) }))));
    });
  }

  // ------------------------------------------------------------------ one thread

  function renderPatient(p) {
    const box = $("patient");
    box.replaceChildren();
    if (!p) { box.appendChild(el("p", { class: "hint", text: "Not verified yet." })); return; }
    box.appendChild(el("p", { text: p.name + " · balance " + money(p.summary.balance_cents) +
      " · " + p.summary.open_statement_count + " open statement(s) · prefers " + p.preferred_channel +
      " · " + p.language }));
    const statements = el("ul");
    p.statements.forEach((s) => {
      const lines = el("ul");
      s.line_items.forEach((li) => lines.appendChild(el("li", {
        text: li.service_date + " " + li.code + " " + li.description + ": billed " + money(li.billed_cents) +
          ", insurance paid " + money(li.insurance_paid_cents) + ", you owe " +
          money(li.deductible_cents + li.coinsurance_cents + li.copay_cents + li.not_covered_cents),
      })));
      statements.appendChild(el("li", { text: "Statement " + s.number + " (" + s.statement_date + ", due " +
        s.due_date + "): balance " + money(s.balance_cents) + ", " + s.status }, [lines]));
    });
    box.appendChild(el("h4", { text: "Statements" }));
    box.appendChild(statements);
    const simple = (title, items, fmt) => {
      box.appendChild(el("h4", { text: title }));
      const ul = el("ul");
      items.forEach((x) => ul.appendChild(el("li", { text: fmt(x) })));
      if (!items.length) ul.appendChild(el("li", { class: "hint", text: "None." }));
      box.appendChild(ul);
    };
    simple("Claims", p.claims, (c) => c.claim_number + " " + c.payer_name + ": " + c.status + ", billed " +
      money(c.billed_cents) + ", paid " + money(c.paid_cents) +
      (c.denial_codes.length ? " (codes " + c.denial_codes.map((d) => d.group_code + "-" + d.carc).join(", ") + ")" : ""));
    simple("Payment plans", p.plans, (pl) => money(pl.total_cents) + " over " + pl.months + " months: " + pl.status);
    simple("Tickets", p.tickets, (t) => when(t.created_at) + " " + t.reference + " " + t.reason.replace(/_/g, " ") + " (" +
      t.priority + "): " + t.status);
  }

  function renderThread(d) {
    const t = d.thread;
    state.thread = d;
    $("thread-title").textContent = "Thread " + t.id.slice(0, 12) + " · " + t.channel;
    $("thread-meta").textContent = [
      t.escalation_reason ? "Escalated: " + t.escalation_reason.replace(/_/g, " ") + " (" + t.escalation_priority + ")" : "Not escalated",
      d.ticket ? "ticket " + d.ticket.reference + " " + d.ticket.status + (d.ticket.summary ? " — " + d.ticket.summary : "") : "",
      t.holder ? "held by " + (t.holder_email || t.holder) : "mode " + t.mode,
    ].filter(Boolean).join(" · ");
    const mine = state.staff && t.holder === "staff:" + state.staff.id;
    const takeOver = $("take-over");
    takeOver.hidden = mine;
    takeOver.disabled = t.holder !== null;
    takeOver.textContent = t.holder && !mine ? "Held by " + (t.holder_email || t.holder) : "Take over";
    $("resolve").disabled = !t.escalated_at;
    document.querySelectorAll("#reply-form button, #reply-form textarea, #handback-form button, #handback-form input")
      .forEach((n) => { n.disabled = !mine; });
    const list = $("transcript");
    list.replaceChildren();
    d.transcript.forEach((line) => {
      list.appendChild(el("li", { class: "a-" + line.author }, [
        el("span", { class: "who", text: line.author }),
        el("span", { text: line.text }),
        el("span", { class: "when", text: when(line.at) }),
      ]));
    });
    list.scrollTop = list.scrollHeight;
    const approval = d.pending_approval;
    $("approval").hidden = !approval;
    if (approval) {
      $("approval-terms").textContent = money(approval.total_cents) + " over " + approval.months +
        " months, " + money(approval.installment_cents) + " a month." +
        (canDecide() ? "" : " A manager or admin decides.");
      $("approve").disabled = !canDecide();
      $("deny").disabled = !canDecide();
    }
    renderPatient(d.patient);
    $("thread-body").hidden = false;
  }

  async function openThread(threadId, focus = true) {
    state.threadId = threadId;
    try {
      renderThread(await api("GET", "/v1/console/threads/" + encodeURIComponent(threadId)));
      document.querySelectorAll("#queue button").forEach((b) => {
        if (b.dataset.thread === threadId) b.setAttribute("aria-current", "true");
        else b.removeAttribute("aria-current");
      });
      if (focus) $("thread-title").focus();
    } catch (error) { say(error.message); }
  }

  async function act(label, method, suffix, body) {
    if (!state.threadId) return;
    try {
      await api(method, "/v1/console/threads/" + encodeURIComponent(state.threadId) + suffix, body);
      say(label);
      await Promise.all([openThread(state.threadId, false), loadQueue(), loadApprovals()]);
    } catch (error) {
      say(error.message);
      if (error.status === 401) showLogin();
    }
  }

  $("take-over").addEventListener("click", () => act("You took the thread over.", "POST", "/take-over"));
  $("resolve").addEventListener("click", () => act("Resolved.", "POST", "/resolve"));
  $("approve").addEventListener("click", () => act("Plan approved.", "POST", "/plan-decision", { approved: true }));
  $("deny").addEventListener("click", () => act("Plan denied.", "POST", "/plan-decision", { approved: false }));
  $("reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("reply-text").value.trim();
    if (!text) return;
    await act("Reply sent.", "POST", "/reply", { text });
    $("reply-text").value = "";
    $("reply-text").focus();
  });
  $("handback-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = $("handback-note").value.trim();
    await act("Handed back to the bot.", "POST", "/hand-back", { note: note || null });
    $("handback-note").value = "";
  });

  // ------------------------------------------------------------------ live updates

  function scheduleRefresh(threadId) {
    if (state.refreshTimer) clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(() => {
      state.refreshTimer = null;
      loadQueue().catch(() => {});
      loadApprovals().catch(() => {});
      loadOutageHandoffs().catch(() => {});
      loadAnalytics().catch(() => {});
      if (state.threadId && (!threadId || threadId === state.threadId)) openThread(state.threadId, false);
    }, 250);
  }

  function listen() {
    if (state.events) state.events.close();
    // EventSource reconnects by itself and sends Last-Event-ID, so nothing is missed.
    state.events = new EventSource("/v1/console/events", { withCredentials: true });
    state.events.addEventListener("thread", (msg) => {
      const data = JSON.parse(msg.data);
      if (["handoff", "staff_message", "message", "mode", "done"].includes(data.type)) scheduleRefresh(data.thread_id);
    });
    state.events.addEventListener("error", () => say("Live updates reconnecting…"));
    state.events.addEventListener("ready", () => say(""));
  }


  // ------------------------------------------------------------------ outreach

  // Reasons are audit tokens ("send.first_contact.small_good_payer"): shown as words.
  const words = (token) => String(token || "").split(/[.:]/).map((w) => w.replace(/_/g, " ").trim())
    .filter(Boolean).join(" · ");
  const COUNTER_ROWS = [
    ["sent", "Sent"], ["delivered", "Delivered"], ["undelivered", "Undelivered"],
    ["undelivered_permanent", "Undeliverable (permanent)"], ["replied", "Replied"],
    ["paid_within_7_days", "Paid within 7 days"], ["paid_within_30_days", "Paid within 30 days"],
    ["plans", "Plans"], ["opt_outs", "Opt-outs"],
  ];
  const BREAKDOWN = ["sent", "delivered", "replied", "paid_within_7_days", "paid_within_30_days", "plans", "opt_outs"];

  function stopOutreachRefresh() {
    if (state.outreachTimer) clearInterval(state.outreachTimer);
    state.outreachTimer = null;
  }

  async function openOutreach() {
    $("outreach-run").hidden = !canDecide();
    $("outreach-pause-all").hidden = !canDecide();
    $("outreach-resume-all").hidden = !canDecide();
    await refreshOutreach();
    stopOutreachRefresh();
    // The counters and the call queue are live: read again while the page is open.
    state.outreachTimer = setInterval(() => {
      if (!$("outreach-view").hidden) refreshOutreach().catch(() => {});
    }, 15000);
  }

  async function refreshOutreach() {
    const jobs = [loadCounters(), loadCalls(), loadOutreachPatients(), loadTemplates()];
    if (state.patientId) jobs.push(openTimeline(state.patientId, false));
    await Promise.all(jobs);
  }

  function breakdown(tableId, groups, empty) {
    const body = $(tableId).tBodies[0];
    body.replaceChildren();
    Object.entries(groups).forEach(([name, c]) => {
      const cells = [el("th", { scope: "row", text: words(name) || empty })];
      BREAKDOWN.forEach((k) => cells.push(el("td", { text: String(c[k]) })));
      body.appendChild(el("tr", {}, cells));
    });
    if (!Object.keys(groups).length) {
      body.appendChild(el("tr", {}, [el("td", { colspan: String(BREAKDOWN.length + 1), class: "hint", text: "Nothing sent yet." })]));
    }
  }

  async function loadCounters() {
    const c = await api("GET", "/v1/console/outreach/counters");
    const dl = $("counters");
    dl.replaceChildren();
    COUNTER_ROWS.concat([["call_tasks_open", "Call tasks open"], ["uncertain", "Sent in doubt (not resent)"]])
      .forEach(([k, label]) => {
        dl.appendChild(el("dt", { text: label }));
        dl.appendChild(el("dd", { "data-counter": k, text: String(c[k]) }));
      });
    breakdown("counters-segments", c.by_segment, "no segment");
    breakdown("counters-channels", c.by_channel, "unknown");
    $("outreach-global").textContent = c.paused_globally
      ? "Outreach is paused for every patient: nothing is decided or sent."
      : "Outreach is running.";
    $("outreach-pause-all").disabled = c.paused_globally;
    $("outreach-resume-all").disabled = !c.paused_globally;
  }

  async function loadCalls() {
    const calls = await api("GET", "/v1/console/outreach/calls");
    const list = $("calls");
    list.replaceChildren();
    $("calls-count").textContent = "(" + calls.length + ")";
    calls.forEach((task) => {
      const who = (task.patient_name || task.patient_id) + (task.patient_phone ? " · " + task.patient_phone : "");
      const buttons = [["done", "Done"], ["no_answer", "No answer"], ["promise_to_pay", "Promise to pay"]].map(([outcome, label]) => {
        const b = el("button", { type: "button", "data-outcome": outcome, text: label });
        b.addEventListener("click", () => callOutcome(task.id, outcome, label));
        return b;
      });
      const open = el("button", { type: "button", class: "link", text: "Timeline" });
      open.addEventListener("click", () => openTimeline(task.patient_id));
      list.appendChild(el("li", { class: "card", "data-call": String(task.id) }, [
        el("p", { class: "who", text: who }),
        el("p", { text: task.summary || "No summary." }),
        el("p", { class: "meta", text: "Due " + when(task.due_at) + " · " + words(task.reason) }),
        el("div", { class: "actions", role: "group", "aria-label": "Outcome of the call to " + who }, buttons.concat([open])),
      ]));
    });
    if (!calls.length) list.appendChild(el("li", { class: "hint", text: "No call is due." }));
  }

  async function callOutcome(stepId, outcome, label) {
    try {
      await api("POST", "/v1/console/outreach/calls/" + encodeURIComponent(stepId) + "/outcome", { outcome });
      say("Call recorded: " + label.toLowerCase() + ".");
      await refreshOutreach();
    } catch (error) { outreachError(error); }
  }

  async function loadOutreachPatients() {
    const rows = await api("GET", "/v1/console/outreach/patients?limit=50");
    const list = $("outreach-patients");
    list.replaceChildren();
    rows.forEach((r) => {
      const button = el("button", { type: "button", "data-patient": r.patient_id }, [
        el("span", { text: (r.patient_name || r.patient_id) + " · " + r.steps + " step(s) · " +
          when(r.last_activity_at) + (r.paused ? " · paused" : "") }),
      ]);
      if (r.patient_id === state.patientId) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => openTimeline(r.patient_id));
      list.appendChild(el("li", {}, [button]));
    });
    if (!rows.length) list.appendChild(el("li", { class: "hint", text: "Outreach has not worked on anyone yet." }));
  }

  function stepLine(s) {
    const sent = s.sent_at ? "Sent " + when(s.sent_at) : (s.status === "scheduled" || s.status === "open" ? "Due " : "Was due ") + when(s.due_at);
    const delivery = s.delivery_status
      ? " · " + s.delivery_status + (s.delivery_error ? " (error " + s.delivery_error + ")" : "")
      : "";
    const head = [sent, s.channel, words(s.step), s.status + delivery].join(" · ");
    const why = "Why: " + words(s.reason) + (s.segment ? " · segment " + words(s.segment) : "") +
      (s.tone && s.tone !== "standard" ? " · " + s.tone + " wording" : "") +
      (s.template_version ? " · template v" + s.template_version : "");
    const parts = [el("span", { class: "step-head", text: head }), el("span", { class: "meta", text: why })];
    if (s.status_reason) parts.push(el("span", { class: "meta", text: "Status: " + words(s.status_reason) }));
    if (s.replied_at) parts.push(el("span", { class: "meta", text: "Replied " + when(s.replied_at) }));
    if (s.summary) parts.push(el("span", { text: s.summary }));
    if (s.outcome) parts.push(el("span", { class: "meta", text: "Call outcome: " + words(s.outcome) }));
    return el("li", { class: "s-" + s.status, "data-step": String(s.id) }, parts);
  }

  function renderTimeline(t) {
    state.patientId = t.patient_id;
    $("timeline-title").textContent = "Outreach timeline · " + t.patient_id;
    $("timeline-meta").textContent = t.paused_globally
      ? "Outreach is paused for everyone." + (t.paused ? " This patient is paused too." : "")
      : (t.paused ? "Outreach is paused for this patient." : "Outreach is active for this patient.");
    $("timeline-next").textContent = t.next
      ? "Next: " + words(t.next.step) + " by " + t.next.channel + ", " + when(t.next.due_at) + " (" + words(t.next.reason) + ")"
      : "Next: nothing is scheduled.";
    $("timeline-pause").disabled = t.paused;
    $("timeline-resume").disabled = !t.paused;
    const list = $("timeline-steps");
    list.replaceChildren();
    t.steps.forEach((s) => list.appendChild(stepLine(s)));
    if (!t.steps.length) list.appendChild(el("li", { class: "hint", text: "Nothing decided or sent yet." }));
    $("timeline-body").hidden = false;
    document.querySelectorAll("#outreach-patients button").forEach((b) => {
      if (b.dataset.patient === t.patient_id) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    });
  }

  async function openTimeline(patientId, focus = true) {
    try {
      renderTimeline(await api("GET", "/v1/console/outreach/patients/" + encodeURIComponent(patientId) + "/timeline"));
      if (focus) $("timeline-title").focus();
    } catch (error) { outreachError(error); }
  }

  async function patientAction(verb, label) {
    if (!state.patientId) return;
    try {
      renderTimeline(await api("POST", "/v1/console/outreach/patients/" + encodeURIComponent(state.patientId) + "/" + verb));
      say(label);
      await Promise.all([loadOutreachPatients(), loadCalls()]);
    } catch (error) { outreachError(error); }
  }

  async function loadTemplates() {
    const items = await api("GET", "/v1/console/outreach/templates");
    fillTemplateKeys(items);
    $("templates-hint").textContent = canDecide()
      ? "Nothing is sent with a template until you approve a version; approving one retires the version approved before."
      : "Nothing is sent with a template until a manager approves it.";
    const body = $("templates").tBodies[0];
    body.replaceChildren();
    items.forEach((t) => {
      const name = t.key + " (" + t.language + ")";
      const approval = t.status === "approved"
        ? el("span", { text: "by " + (t.approved_by || "?") + (t.approved_at ? ", " + when(t.approved_at) : "") })
        : el("span", { class: "hint", text: "—" });
      const cell = el("td", {}, [approval]);
      if (t.status === "draft") {
        const b = el("button", { type: "button", "data-template": t.key + "/" + t.language + "/" + t.version, text: "Approve" });
        if (canDecide()) b.addEventListener("click", () => approveTemplate(t));
        else { b.disabled = true; b.title = "A manager approves templates."; }
        cell.replaceChildren(b);
      }
      body.appendChild(el("tr", { class: "t-" + t.status }, [
        el("th", { scope: "row", text: name }),
        el("td", { text: "v" + t.version }),
        el("td", { text: t.status }),
        el("td", { class: "body", text: t.body }),
        cell,
      ]));
    });
    if (!items.length) body.appendChild(el("tr", {}, [el("td", { colspan: "5", class: "hint", text: "No templates." })]));
  }

  function fillTemplateKeys(items) {
    const select = $("template-key");
    const chosen = select.value;
    const keys = Array.from(new Set(items.map((t) => t.key))).sort();
    select.replaceChildren(...keys.map((k) => el("option", { value: k, text: k })));
    if (keys.includes(chosen)) select.value = chosen;
    $("template-form").hidden = !canDecide() || !keys.length;
  }

  async function approveTemplate(t) {
    const path = "/v1/console/outreach/templates/" + [t.key, t.language, t.version].map(encodeURIComponent).join("/") + "/approve";
    try {
      await api("POST", path);
      say("Template " + t.key + " (" + t.language + ") v" + t.version + " approved.");
      await loadTemplates();
    } catch (error) { outreachError(error); }
  }

  async function managerAction(path, label) {
    try {
      const result = await api("POST", path);
      say(typeof label === "function" ? label(result) : label);
      await refreshOutreach();
    } catch (error) { outreachError(error); }
  }

  function outreachError(error) {
    say(error.message);
    if (error.status === 401) showLogin();
  }

  $("outreach-refresh").addEventListener("click", () => refreshOutreach().then(() => say("Outreach refreshed.")).catch(outreachError));
  $("outreach-run").addEventListener("click", () => managerAction("/v1/console/outreach/run",
    (r) => "Pass done: " + r.decided_accounts + " account(s) decided, " + r.scheduled + " scheduled, " + r.sent + " sent, " +
      r.deferred + " deferred, " + r.held + " held for an approved template."));
  $("outreach-pause-all").addEventListener("click", () => managerAction("/v1/console/outreach/pause", "Outreach paused for everyone."));
  $("outreach-resume-all").addEventListener("click", () => managerAction("/v1/console/outreach/resume", "Outreach resumed."));
  $("timeline-pause").addEventListener("click", () => patientAction("pause", "Outreach paused for this patient; what was scheduled is cancelled."));
  $("timeline-resume").addEventListener("click", () => patientAction("resume", "Outreach resumed for this patient."));
  $("template-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const t = await api("POST", "/v1/console/outreach/templates", {
        key: $("template-key").value, language: $("template-language").value, body: $("template-body").value,
      });
      say("Template " + t.key + " (" + t.language + ") v" + t.version + " saved as a draft.");
      $("template-body").value = "";
      await loadTemplates();
    } catch (error) { outreachError(error); }
  });
  $("timeline-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("timeline-patient").value.trim();
    if (id) openTimeline(id);
  });

  // ------------------------------------------------------------------ start

  api("GET", "/v1/console/me").then(showWork).catch(showLogin);
})();
