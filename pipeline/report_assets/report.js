// Renders the runs page from the report JSON (pipeline/report.py): embedded in the page by
// `python -m pipeline report`, or fetched from the Airflow view's API (plugins/news_views.py),
// which also answers the story inspector. Page text never goes through innerHTML.
"use strict";

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

function link(url) {
  // Only http(s) and file URLs become links: a hostile page URL must not run script when clicked.
  return /^(https?|file):\/\//i.test(url) ? el("a", url, { href: url, rel: "noreferrer" }) : el("span", url);
}

function percent(rate) {
  return (rate * 100).toFixed(1) + "%";
}

function row(cells) {
  const tr = el("tr");
  for (const [field, value, numeric] of cells) {
    const td = el("td", null, { "data-field": field });
    if (numeric) td.className = "num";
    if (value instanceof Node) td.append(value); else td.textContent = value ?? "";
    tr.append(td);
  }
  return tr;
}

async function getJSON(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${path}: HTTP ${response.status}`);
  return body;
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
}

function renderSummary(report) {
  const t = report.totals;
  document.getElementById("summary").textContent =
    `${report.runs.length} committed run${report.runs.length === 1 ? "" : "s"} in ${report.store} · ${t.pages_in} pages in, ` +
    `${t.canonical} canonical, ${t.duplicates} duplicates (${percent(t.duplicate_rate)}), ` +
    `${t.rejected} rejected (${percent(t.rejection_rate)}), ${t.already_ingested} already ingested · ` +
    `as of ${report.generated_at}`;
}

function renderCharts(runs) {
  // One point per run, in commit order; a label is the commit time over the run id.
  const labels = runs.map((run) => [run.committed_at.replace("T", " ").replace("Z", ""), run.run_id]);
  const stacked = { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "pages" } } };
  new Chart(document.getElementById("pages-chart"), {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "canonical", data: runs.map((run) => run.canonical) },
        { label: "duplicates", data: runs.map((run) => run.duplicates) },
        { label: "rejected", data: runs.map((run) => run.rejected) },
        { label: "already ingested", data: runs.map((run) => run.already_ingested) },
      ],
    },
    options: { maintainAspectRatio: false, animation: false, scales: stacked,
               plugins: { title: { display: true, text: "Pages per run" } } },
  });
  new Chart(document.getElementById("rates-chart"), {
    type: "line",
    data: {
      labels,
      datasets: [
        { label: "duplicate rate %", data: runs.map((run) => +(run.duplicate_rate * 100).toFixed(2)) },
        { label: "rejection rate %", data: runs.map((run) => +(run.rejection_rate * 100).toFixed(2)) },
      ],
    },
    options: { maintainAspectRatio: false, animation: false,
               scales: { y: { beginAtZero: true, suggestedMax: 100, title: { display: true, text: "%" } } },
               plugins: { title: { display: true, text: "Duplicate and rejection rate per run" } } },
  });
}

function renderRuns(runs) {
  const body = document.querySelector("#runs-table tbody");
  for (const run of [...runs].reverse()) {  // newest first
    const reasons = Object.entries(run.rejected_by_reason).map(([reason, n]) => `${reason} ${n}`).join(", ");
    const tr = row([
      ["run_id", run.run_id], ["committed_at", run.committed_at], ["pages_in", run.pages_in, true],
      ["canonical", run.canonical, true], ["duplicates", run.duplicates, true], ["superseded", run.superseded, true],
      ["already_ingested", run.already_ingested, true], ["rejected", run.rejected, true],
      ["rejected_by_reason", reasons], ["seconds", run.seconds, true], ["pages_per_second", run.pages_per_second, true],
    ]);
    tr.dataset.runId = run.run_id;
    body.append(tr);
  }
}

function renderRejections(rejections) {
  const body = document.querySelector("#rejections-table tbody");
  if (!rejections.length) {
    const tr = el("tr");
    tr.append(el("td", "no page was rejected", { colspan: 3 }));
    body.append(tr);
  }
  for (const group of rejections) {
    const list = el("ul");
    for (const sample of group.samples) {
      const item = el("li");
      item.append(link(sample.url), el("span", ` ${sample.detail || ""} (run ${sample.run_id})`, { class: "muted" }));
      list.append(item);
    }
    const tr = row([["reason", group.reason], ["pages", group.pages, true], ["samples", list]]);
    tr.dataset.reason = group.reason;
    body.append(tr);
  }
}

function renderStory(story) {
  const box = document.getElementById("story");
  const taken = story.rows.map((r) => `${r.status}${r.reason ? " (" + r.reason + ")" : ""} in run ${r.run_id}`);
  document.getElementById("story-summary").textContent =
    `${story.url}: ${taken.join("; ")}` + (story.story_id ? ` · story ${story.story_id}, ${story.pages.length} pages` : "");
  const canonical = document.getElementById("story-canonical");
  const article = story.article;
  canonical.textContent = article ? article.url : "none (the page was not placed in a story)";
  if (article && /^(https?|file):\/\//i.test(article.url)) canonical.href = article.url; else canonical.removeAttribute("href");
  document.getElementById("story-article").textContent = article
    ? `“${article.title ?? "untitled"}”, ${article.source}, published ${article.published_at ?? "?"}, written by run ${article.run_id}`
    : "";
  const body = document.querySelector("#story-pages tbody");
  body.replaceChildren();
  for (const page of story.pages) {
    const tr = row([
      ["url", link(page.url)], ["status", page.status], ["similarity", page.similarity, true],
      ["method", page.method], ["reason", page.reason || page.detail], ["run_id", page.run_id],
    ]);
    tr.dataset.status = page.status;
    if (article && page.url === article.url) tr.className = "current";
    body.append(tr);
  }
  box.hidden = false;
}

function wireInspector() {
  const form = document.getElementById("inspector");
  if (!form) return;  // the stand-alone report has no server to ask
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    document.getElementById("error").hidden = true;
    const url = document.getElementById("inspector-url").value;
    try {
      renderStory(await getJSON("api/story?url=" + encodeURIComponent(url)));
    } catch (error) {
      document.getElementById("story").hidden = true;
      showError(error.message);
    }
  });
}

async function main() {
  const embedded = document.getElementById("report-data");
  try {
    const report = embedded ? JSON.parse(embedded.textContent) : await getJSON("api/report");
    renderSummary(report);
    renderCharts(report.runs);
    renderRuns(report.runs);
    renderRejections(report.rejections);
    document.body.dataset.ready = "true";
  } catch (error) {
    showError(error.message);
  }
  wireInspector();
}

main();
