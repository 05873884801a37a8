import nodemailer from 'nodemailer';
import { listDueMail, updateMail, type MailRow } from '../db/mail-repo.ts';
import type { Db } from '../db/database.ts';
import type { Clock } from '../domain/clock.ts';

/** What carries a mail out. */
export interface MailTransport {
  send(mail: { from: string; to: string; subject: string; text: string; html: string }): Promise<void>;
  close(): void;
}

/** SMTP by URL (smtp://USER:PASS@HOST:PORT, STARTTLS when offered; smtps:// for TLS from the start). */
export function smtpTransport(url: string): MailTransport {
  // Timeouts short enough that a dead server does not hold a delivery pass for minutes.
  const transporter = nodemailer.createTransport({ url, connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 30_000 });
  return {
    send: async (mail) => void (await transporter.sendMail(mail)),
    close: () => transporter.close(),
  };
}

/** The SMTP URL without its password, for the log. */
export function describeSmtpUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}`;
}

export interface MailLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface MailQueueOptions {
  db: Db;
  clock: Clock;
  /** Null: no SMTP server; mails go to the outbox the operator reads (state `outbox`). */
  transport: MailTransport | null;
  from: string;
  log: MailLog;
  /** How often queued mails are looked at besides the nudge that follows each new one (retries come due this way). */
  pollIntervalMs?: number;
  /** A failed mail is tried again after 1 min, doubling up to `maxBackoffMs`, and given up after `maxAttempts`. */
  maxAttempts?: number;
  maxBackoffMs?: number;
  /** In a cluster only the node leading the periodic work delivers (cluster/leader-lease.ts); the others only queue. */
  mayDeliver?: () => boolean;
}

/**
 * Delivers the queued mails in the background: nothing that queues a mail waits for SMTP.
 * A failure is logged and retried with exponential backoff (on the injected clock); a mail
 * still failing after `maxAttempts` is marked `failed` for the operator to see. Once SMTP
 * has taken a mail its body is dropped from the database: it may hold a rental password.
 * One delivery pass runs at a time; `close()` waits for it and is idempotent.
 */
export class MailQueue {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | null = null;
  private again = false;
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;
  private transportOpen = true;
  private readonly maxAttempts: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly o: MailQueueOptions) {
    this.maxAttempts = o.maxAttempts ?? 10;
    this.maxBackoffMs = o.maxBackoffMs ?? 60 * 60_000;
  }

  get delivery(): 'smtp' | 'outbox' {
    return this.o.transport ? 'smtp' : 'outbox';
  }

  start(): void {
    if (this.closed) return;
    this.timer ??= setInterval(() => this.kick(), this.o.pollIntervalMs ?? 30_000);
    this.timer.unref();
    this.kick();
  }

  /**
   * Runs `queueing` (which writes mails to the queue) without making the caller wait, logs
   * its failure, and delivers what it queued. `close()` waits for it.
   */
  queue(queueing: Promise<unknown>): void {
    const tracked = queueing
      .then(() => this.kick())
      .catch((err) => this.o.log.error({ err }, 'could not queue a mail'))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Starts a delivery pass now, or another right after the one running. */
  kick(): void {
    if (this.closed) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = (async () => {
      do {
        this.again = false;
        await this.deliverDue().catch((err) => this.o.log.error({ err }, 'mail delivery pass failed'));
      } while (this.again && !this.closed);
    })().finally(() => (this.pass = null));
  }

  /** Waits until everything queued so far has been tried once (tests; shutdown). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.kick();
    while (this.pass) await this.pass;
  }

  /** One pass: every due mail, in batches, each tried once. */
  async deliverDue(): Promise<number> {
    let done = 0;
    for (;;) {
      const due = await listDueMail(this.o.db, this.o.clock.now().toISOString(), 50);
      if (due.length === 0) return done;
      for (const mail of due) {
        // Shutting down, or no longer the node that delivers: what is left stays queued.
        if (this.closed || this.o.mayDeliver?.() === false) return done;
        await this.deliver(mail);
        done++;
      }
    }
  }

  private async deliver(mail: MailRow): Promise<void> {
    const now = () => this.o.clock.now().toISOString();
    if (!this.o.transport) {
      await updateMail(this.o.db, mail.id, { state: 'outbox', sent_at: now() });
      return;
    }
    try {
      await this.o.transport.send({
        from: this.o.from,
        to: mail.to_address,
        subject: mail.subject,
        text: mail.text_body,
        html: mail.html_body,
      });
      await updateMail(this.o.db, mail.id, {
        state: 'sent',
        sent_at: now(),
        attempts: mail.attempts + 1,
        text_body: '',
        html_body: '',
        last_error: null,
      });
    } catch (err) {
      const attempts = mail.attempts + 1;
      const message = err instanceof Error ? err.message : String(err);
      const giveUp = attempts >= this.maxAttempts;
      const delay = Math.min(60_000 * 2 ** (attempts - 1), this.maxBackoffMs);
      await updateMail(this.o.db, mail.id, {
        attempts,
        last_error: message.slice(0, 500),
        ...(giveUp ? { state: 'failed' as const } : { next_attempt_at: new Date(this.o.clock.now().getTime() + delay).toISOString() }),
      });
      const fields = { mailId: mail.id, kind: mail.kind, attempts, error: message };
      if (giveUp) this.o.log.error(fields, `mail not sent after ${attempts} attempts; giving up`);
      else this.o.log.warn({ ...fields, retryInMs: delay }, 'mail not sent; will retry');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    // What is being queued still gets its row, delivered after the next start.
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    while (this.pass) await this.pass;
    if (this.transportOpen) this.o.transport?.close();
    this.transportOpen = false;
  }
}
