// The staff console: plain fetch + EventSource, no build step. Text from the server is only ever set
// with textContent, never as HTML.
(function () {
  "use strict";

  const CSRF_COOKIE = "pba_console_csrf";
  const $ = (id) => document.getElementById(id);
  const state = { staff: null, threadId: null, thread: null, events: null, refreshTimer: null };

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
    $("login-view").hidden = false;
    $("login-email").focus();
  }

  async function showWork(staff) {
    state.staff = staff;
    $("staff-label").textContent = staff.email + " (" + staff.role + ")";
    $("whoami").hidden = false;
    $("login-view").hidden = true;
    $("work-view").hidden = false;
    await Promise.all([loadQueue(), loadApprovals(), loadAnalytics()]);
    listen();
  }

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

  // ------------------------------------------------------------------ start

  api("GET", "/v1/console/me").then(showWork).catch(showLogin);
})();
