// Task board: loads tasks from the API, renders them into columns and keeps
// the server in sync when cards are added, moved or deleted.

export type TaskStatus = "todo" | "doing" | "done";

export interface Task {
  id: string;
  title: string;
  description?: string;
  status: TaskStatus;
  assignee?: string;
  labels: string[];
  createdAt: string;
  updatedAt: string;
}

export interface BoardOptions {
  apiBase: string;
  root: HTMLElement;
  pollIntervalMs?: number;
}

interface ApiError {
  message: string;
  code?: string;
}

type TaskPatch = Partial<Pick<Task, "title" | "description" | "status" | "assignee" | "labels">>;

const STATUSES: TaskStatus[] = ["todo", "doing", "done"];

const STATUS_LABELS: Record<TaskStatus, string> = {
  todo: "To do",
  doing: "In progress",
  done: "Done",
};

export class HttpError extends Error {
  constructor(public readonly status: number, message: string) {
    super(message);
    this.name = "HttpError";
  }
}

async function request<T>(url: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(url, {
    ...init,
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      ...(init.headers ?? {}),
    },
  });
  if (!response.ok) {
    let message = response.statusText;
    try {
      const body = (await response.json()) as ApiError;
      message = body.message || message;
    } catch {
      // body was not JSON; keep the status text
    }
    throw new HttpError(response.status, message);
  }
  if (response.status === 204) {
    return undefined as T;
  }
  return (await response.json()) as T;
}

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function formatRelative(iso: string, now: Date = new Date()): string {
  const seconds = Math.round((now.getTime() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "just now";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

export class TaskBoard {
  private readonly tasks = new Map<string, Task>();
  private readonly selectedLabels = new Set<string>();
  private readonly columns = new Map<TaskStatus, HTMLElement>();
  private pollTimer: number | undefined;
  private draggingId: string | null = null;

  constructor(private readonly options: BoardOptions) {}

  async init(): Promise<void> {
    this.buildColumns();
    this.bindEvents();
    await this.refresh();
    const interval = this.options.pollIntervalMs ?? 30_000;
    if (interval > 0) {
      this.pollTimer = window.setInterval(() => {
        this.refresh().catch((err) => console.warn("poll failed", err));
      }, interval);
    }
  }

  destroy(): void {
    if (this.pollTimer !== undefined) {
      window.clearInterval(this.pollTimer);
      this.pollTimer = undefined;
    }
    this.options.root.innerHTML = "";
    this.tasks.clear();
  }

  async refresh(): Promise<void> {
    const list = await request<Task[]>(`${this.options.apiBase}/tasks`);
    this.tasks.clear();
    for (const task of list) {
      this.tasks.set(task.id, task);
    }
    this.render();
  }

  async addTask(title: string, status: TaskStatus = "todo"): Promise<Task> {
    const trimmed = title.trim();
    if (!trimmed) {
      throw new Error("Task title cannot be empty");
    }
    const task = await request<Task>(`${this.options.apiBase}/tasks`, {
      method: "POST",
      body: JSON.stringify({ title: trimmed, status, labels: [] }),
    });
    this.tasks.set(task.id, task);
    this.render();
    return task;
  }

  async updateTask(id: string, patch: TaskPatch): Promise<void> {
    const existing = this.tasks.get(id);
    if (!existing) return;

    // Apply optimistically, roll back if the server rejects it.
    const previous = { ...existing };
    this.tasks.set(id, { ...existing, ...patch });
    this.render();
    try {
      const saved = await request<Task>(`${this.options.apiBase}/tasks/${id}`, {
        method: "PATCH",
        body: JSON.stringify(patch),
      });
      this.tasks.set(id, saved);
    } catch (err) {
      this.tasks.set(id, previous);
      this.showError(err);
    }
    this.render();
  }

  async deleteTask(id: string): Promise<void> {
    const task = this.tasks.get(id);
    if (!task || !window.confirm(`Delete "${task.title}"?`)) return;
    try {
      await request<void>(`${this.options.apiBase}/tasks/${id}`, { method: "DELETE" });
      this.tasks.delete(id);
      this.render();
    } catch (err) {
      this.showError(err);
    }
  }

  toggleLabel(label: string): void {
    if (this.selectedLabels.has(label)) {
      this.selectedLabels.delete(label);
    } else {
      this.selectedLabels.add(label);
    }
    this.render();
  }

  private visibleTasks(): Task[] {
    const all = Array.from(this.tasks.values());
    if (this.selectedLabels.size === 0) return all;
    return all.filter((task) => task.labels.some((l) => this.selectedLabels.has(l)));
  }

  private allLabels(): string[] {
    const labels = new Set<string>();
    this.tasks.forEach((task) => task.labels.forEach((l) => labels.add(l)));
    return [...labels].sort();
  }

  private buildColumns(): void {
    const { root } = this.options;
    root.classList.add("task-board");
    root.innerHTML = `
      <form class="task-board__new">
        <input name="title" placeholder="New task…" autocomplete="off" />
        <button type="submit">Add</button>
      </form>
      <div class="task-board__labels"></div>
      <div class="task-board__columns"></div>
      <p class="task-board__error" hidden></p>
    `;
    const container = root.querySelector<HTMLElement>(".task-board__columns")!;
    for (const status of STATUSES) {
      const column = document.createElement("section");
      column.className = "task-column";
      column.dataset.status = status;
      column.innerHTML = `<h2>${STATUS_LABELS[status]} <span class="count"></span></h2><ul></ul>`;
      container.appendChild(column);
      this.columns.set(status, column);
    }
  }

  private bindEvents(): void {
    const { root } = this.options;

    const form = root.querySelector<HTMLFormElement>(".task-board__new");
    form?.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = form.querySelector<HTMLInputElement>("input[name=title]");
      if (!input) return;
      try {
        await this.addTask(input.value);
        input.value = "";
        input.focus();
      } catch (err) {
        this.showError(err);
      }
    });

    root.addEventListener("click", (event) => {
      const target = event.target as HTMLElement;
      const card = target.closest<HTMLElement>(".task-card");
      if (target.matches(".task-card__delete") && card?.dataset.id) {
        event.preventDefault();
        void this.deleteTask(card.dataset.id);
        return;
      }
      const chip = target.closest<HTMLElement>(".label-chip");
      if (chip?.dataset.label) {
        this.toggleLabel(chip.dataset.label);
      }
    });

    root.addEventListener("dragstart", (event) => {
      const card = (event.target as HTMLElement).closest<HTMLElement>(".task-card");
      if (!card) return;
      this.draggingId = card.dataset.id ?? null;
      card.classList.add("is-dragging");
      event.dataTransfer?.setData("text/plain", this.draggingId ?? "");
    });

    root.addEventListener("dragend", (event) => {
      (event.target as HTMLElement).classList.remove("is-dragging");
      this.draggingId = null;
      this.columns.forEach((col) => col.classList.remove("is-drop-target"));
    });

    this.columns.forEach((column, status) => {
      column.addEventListener("dragover", (event) => {
        event.preventDefault();
        column.classList.add("is-drop-target");
      });
      column.addEventListener("dragleave", () => column.classList.remove("is-drop-target"));
      column.addEventListener("drop", (event) => {
        event.preventDefault();
        column.classList.remove("is-drop-target");
        const id = event.dataTransfer?.getData("text/plain") || this.draggingId;
        const task = id ? this.tasks.get(id) : undefined;
        if (task && task.status !== status) {
          void this.updateTask(task.id, { status });
        }
      });
    });

    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        this.selectedLabels.clear();
        this.render();
      }
    });
  }

  private render(): void {
    const byStatus = new Map<TaskStatus, Task[]>(STATUSES.map((s) => [s, []]));
    for (const task of this.visibleTasks()) {
      byStatus.get(task.status)?.push(task);
    }

    for (const [status, column] of this.columns) {
      const list = column.querySelector("ul")!;
      const tasks = (byStatus.get(status) ?? []).sort((a, b) =>
        b.updatedAt.localeCompare(a.updatedAt),
      );
      list.innerHTML = tasks.map((task) => this.renderCard(task)).join("");
      const count = column.querySelector(".count");
      if (count) count.textContent = String(tasks.length);
    }

    const labelBar = this.options.root.querySelector(".task-board__labels");
    if (labelBar) {
      labelBar.innerHTML = this.allLabels()
        .map((label) => {
          const active = this.selectedLabels.has(label) ? " is-active" : "";
          return `<button class="label-chip${active}" data-label="${escapeHtml(label)}">${escapeHtml(label)}</button>`;
        })
        .join("");
    }
  }

  private renderCard(task: Task): string {
    const labels = task.labels
      .map((l) => `<span class="label">${escapeHtml(l)}</span>`)
      .join(" ");
    const assignee = task.assignee
      ? `<span class="assignee">@${escapeHtml(task.assignee)}</span>`
      : "";
    return `
      <li class="task-card" draggable="true" data-id="${task.id}">
        <div class="task-card__title">${escapeHtml(task.title)}</div>
        <div class="task-card__meta">${assignee} ${labels}
          <time datetime="${task.updatedAt}">${formatRelative(task.updatedAt)}</time>
        </div>
        <button class="task-card__delete" aria-label="Delete task">×</button>
      </li>`;
  }

  private showError(err: unknown): void {
    const box = this.options.root.querySelector<HTMLElement>(".task-board__error");
    const message = err instanceof Error ? err.message : String(err);
    console.error(err);
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    window.setTimeout(() => {
      box.hidden = true;
    }, 5000);
  }
}

export async function mountTaskBoard(selector: string, apiBase = "/api"): Promise<TaskBoard> {
  const root = document.querySelector<HTMLElement>(selector);
  if (!root) {
    throw new Error(`No element matches ${selector}`);
  }
  const board = new TaskBoard({ apiBase, root });
  await board.init();
  return board;
}
