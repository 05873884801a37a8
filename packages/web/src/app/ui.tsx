import { ApiError } from '@p2pvps/protocol/client';
import { formatMoney, MoneyFormatError, parseMoney } from '@p2pvps/protocol/money';
import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** Errors in words, next to what caused them: `fields` from the API's envelope, keyed like `body.email`. */
export interface Problem {
  message: string;
  fields: Record<string, string>;
}

export function problemOf(err: unknown): Problem {
  if (err instanceof ApiError) return { message: err.message, fields: err.fields ?? {} };
  const fields = (err as { fields?: Record<string, string> })?.fields ?? {};
  return { message: err instanceof Error ? err.message : String(err), fields };
}

/** Runs an action, remembering whether it is under way and what went wrong. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<unknown>) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const run = useCallback(
    async (...args: A) => {
      setBusy(true);
      setProblem(null);
      try {
        await action(...args);
        return true;
      } catch (err) {
        setProblem(problemOf(err));
        return false;
      } finally {
        setBusy(false);
      }
    },
    [action],
  );
  return { run, busy, problem, setProblem };
}

/** Loads data, again whenever `reload` changes (live updates bump it). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; problem: Problem | null; refresh: () => void } {
  const [data, setData] = useState<T>();
  const [problem, setProblem] = useState<Problem | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => live && (setData(d), setProblem(null)),
      (err) => live && setProblem(problemOf(err)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, problem, refresh: () => setTick((t) => t + 1) };
}

/**
 * A list the server sends a page at a time: the first page loads (again whenever `deps`
 * change), and `more()` appends the next one. `load` gets the cursor of the page to fetch.
 */
export function usePaged<T>(load: (cursor: string | undefined) => Promise<{ items: T[]; next: string | null }>, deps: unknown[]) {
  const first = useLoad(() => load(undefined), deps);
  const [extra, setExtra] = useState<{ for: unknown; items: T[]; next: string | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  // Pages loaded with "more" belong to the first page they followed; a reload drops them.
  const current = extra && extra.for === first.data ? extra : null;
  const next = current ? current.next : (first.data?.next ?? null);
  const more = async () => {
    if (!next || busy) return;
    setBusy(true);
    setProblem(null);
    try {
      const page = await load(next);
      setExtra({ for: first.data, items: [...(current?.items ?? []), ...page.items], next: page.next });
    } catch (err) {
      setProblem(problemOf(err));
    } finally {
      setBusy(false);
    }
  };
  const items = first.data ? [...first.data.items, ...(current?.items ?? [])] : undefined;
  return { items, hasMore: next !== null, more, busy, problem: first.problem ?? problem, refresh: first.refresh };
}

/** "More" under a paged list, while the server has more. */
export function MoreButton({ list, label }: { list: { hasMore: boolean; more: () => Promise<void>; busy: boolean }; label: string }) {
  if (!list.hasMore) return null;
  return (
    <button type="button" class="secondary" disabled={list.busy} onClick={() => void list.more()}>
      {label}
    </button>
  );
}

/** A form's onSubmit that runs `action` (Enter or the submit button) instead of loading a page. */
export function submitWith(action: { run: () => Promise<boolean> }) {
  return (e: Event) => {
    e.preventDefault();
    void action.run();
  };
}

/** An amount typed by a person, in micro-units; a malformed one is an error on `field`, shown beside it. */
export function moneyValue(text: string, field: string): number {
  try {
    return parseMoney(text);
  } catch (err) {
    if (err instanceof MoneyFormatError)
      throw Object.assign(new Error(`The amount ${err.message}.`), { fields: { [`body.${field}`]: err.message } });
    throw err;
  }
}

/** What went wrong that no field shows (a problem the API tied to a field is shown beside that field instead). */
export function FormError({ problem }: { problem: Problem | null | undefined }) {
  return <ErrorText problem={problem && Object.keys(problem.fields).length === 0 ? problem : null} />;
}

export function ErrorText({ problem, id }: { problem: Problem | null | undefined; id?: string }) {
  if (!problem) return null;
  return (
    <p class="error" role="alert" id={id}>
      {problem.message}
    </p>
  );
}

let fieldCounter = 0;

/** A labelled input with its own error message beside it, wired for screen readers. */
export function Field(
  props: {
    label: string;
    name: string;
    problem?: Problem | null;
    hint?: string;
    /** The id of the control given as children (a select or textarea), for the label to name it. */
    controlId?: string;
    children?: ComponentChildren;
  } & Omit<JSX.InputHTMLAttributes<HTMLInputElement>, 'label' | 'name'>,
) {
  const { label, name, problem, hint, controlId, children, ...input } = props;
  const [id] = useState(() => `f${++fieldCounter}`);
  const error = problem?.fields[`body.${name}`] ?? problem?.fields[`query.${name}`];
  return (
    <div class="field">
      <label for={controlId ?? id}>{label}</label>
      {children ?? (
        <input
          id={id}
          name={name}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={error ? `${id}-error` : hint ? `${id}-hint` : undefined}
          {...input}
        />
      )}
      {hint && !error && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
      {error && (
        <small id={`${id}-error`} class="field-error">
          {label} {error}
        </small>
      )}
    </div>
  );
}

/** A column of a DataTable: its heading, and whether it holds numbers (aligned right). */
export type Column = string | { label: string; num?: boolean };

/**
 * A table with one heading per column and a row per item; `cells` gives a row's cells in
 * column order. Wide tables scroll sideways on a phone instead of widening the page.
 */
export function DataTable<T>(props: {
  columns: readonly Column[];
  rows: readonly T[];
  keyOf: (row: T, index: number) => string | number;
  cells: (row: T) => ComponentChildren[];
  caption?: string;
  foot?: ComponentChildren;
}) {
  const columns = props.columns.map((c) => (typeof c === 'string' ? { label: c, num: false } : c));
  return (
    <table>
      {props.caption && <caption>{props.caption}</caption>}
      <thead>
        <tr>
          {columns.map((c, i) => (
            <th scope="col" key={i}>
              {c.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row, i) => (
          <tr key={props.keyOf(row, i)}>
            {props.cells(row).map((cell, c) => (
              <td key={c} class={columns[c]?.num ? 'num' : undefined}>
                {cell}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
      {props.foot && <tfoot>{props.foot}</tfoot>}
    </table>
  );
}

export function Money({ micros, currency }: { micros: number; currency: string }) {
  return <span class="money">{formatMoney(micros, currency)}</span>;
}

export function Time({ iso }: { iso: string | null }) {
  if (!iso) return <span>—</span>;
  const d = new Date(iso);
  return <time dateTime={iso}>{d.toISOString().slice(0, 16).replace('T', ' ')} UTC</time>;
}

/** A button that copies text, and says so. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="secondary"
      onClick={async () => {
        await navigator.clipboard?.writeText(text).catch(() => {});
        setDone(true);
        setTimeout(() => setDone(false), 2000);
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

/**
 * Asks before something that cannot be undone. A native <dialog>: focus moves into it,
 * Escape cancels, and focus returns to what opened it.
 */
export function Confirm(props: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirm: string;
  onConfirm: () => void;
  onCancel: () => void;
  busy?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={(e) => (e.preventDefault(), props.onCancel())}>
      <h2 id="confirm-title">{props.title}</h2>
      <div>{props.children}</div>
      <div class="actions">
        <button type="button" class="secondary" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={props.onConfirm} disabled={props.busy}>
          {props.confirm}
        </button>
      </div>
    </dialog>
  );
}
