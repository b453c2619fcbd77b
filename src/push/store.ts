// SQLite access for push (migrations/0600_push.sql): users' push rules, room audiences, notification
// outcomes and counts, pushers. Synchronous (better-sqlite3): the notification writes run inside the
// event's persist transaction, and unread counts are read while /sync assembles its answer.
import type { Database } from '../store/db.js';

/** A notifying event's common outcome (see push_notify_events). */
export interface NotifyEventRow {
  readonly roomNid: number;
  readonly streamOrdering: number;
  readonly eventNid: number;
  readonly sender: string;
  readonly threadId: string | null;
  readonly notify: boolean;
  readonly highlight: boolean;
  readonly actions: string;
  readonly ts: number;
}

export interface NotifyExceptionRow {
  readonly userId: string;
  readonly notify: boolean;
  readonly highlight: boolean;
  readonly actions: string;
}

/** One notification of a user, as GET /notifications lists them. */
export interface UserNotificationRow {
  readonly roomNid: number;
  readonly streamOrdering: number;
  readonly eventNid: number;
  readonly highlight: boolean;
  readonly actions: string;
  readonly ts: number;
}

export interface RoomMemberRow {
  readonly roomNid: number;
  /** The stream ordering of the join that started the membership. */
  readonly since: number;
}

export interface UnreadCounts {
  readonly notify: number;
  readonly highlight: number;
}

export interface PusherRow {
  readonly userId: string;
  readonly appId: string;
  readonly pushkey: string;
  readonly kind: string;
  readonly appDisplayName: string;
  readonly deviceDisplayName: string;
  readonly profileTag: string | null;
  readonly lang: string;
  /** The `data` object as JSON text. */
  readonly data: string;
  readonly pushkeyTs: number;
  readonly deviceId: string | null;
}

interface PusherDb {
  user_id: string;
  app_id: string;
  pushkey: string;
  kind: string;
  app_display_name: string;
  device_display_name: string;
  profile_tag: string | null;
  lang: string;
  data: string;
  pushkey_ts: number;
  device_id: string | null;
}

interface NotificationDb {
  room_nid: number;
  stream_ordering: number;
  event_nid: number;
  highlight: number;
  actions: string;
  ts: number;
}

function pusherRow(r: PusherDb): PusherRow {
  return {
    userId: r.user_id,
    appId: r.app_id,
    pushkey: r.pushkey,
    kind: r.kind,
    appDisplayName: r.app_display_name,
    deviceDisplayName: r.device_display_name,
    profileTag: r.profile_tag,
    lang: r.lang,
    data: r.data,
    pushkeyTs: r.pushkey_ts,
    deviceId: r.device_id,
  };
}

function notificationRow(r: NotificationDb): UserNotificationRow {
  return { roomNid: r.room_nid, streamOrdering: r.stream_ordering, eventNid: r.event_nid, highlight: r.highlight === 1, actions: r.actions, ts: r.ts };
}

interface CountParams {
  user: string;
  room: number;
  after: number;
}

// Where the user has read up to: `after` (join, read receipt), or their own latest event after it
// (spec "Marking notifications as read": by a receipt or by sending an event). An uncorrelated
// subquery over the same range the count reads, evaluated once.
const READ_UP_TO = `MAX(@after, COALESCE((SELECT MAX(s.stream_ordering) FROM push_notify_events s
  WHERE s.room_nid = @room AND s.stream_ordering > @after AND s.sender = @user), 0))`;

// Columns of a user's notification: their exception if any, else the event's common outcome.
const USER_OUTCOME = `e.room_nid, e.stream_ordering, e.event_nid, e.ts,
  COALESCE(x.notify, e.notify) AS notify, COALESCE(x.highlight, e.highlight) AS highlight, COALESCE(x.actions, e.actions) AS actions`;

export class PushStore {
  private readonly q;

  constructor(readonly db: Database) {
    this.q = {
      getRules: db.prepare<[string], string>('SELECT rules FROM push_rules WHERE user_id = ?').pluck(),
      putRules: db.prepare<[string, string, number]>(
        `INSERT INTO push_rules (user_id, rules, updated_ts) VALUES (?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules, updated_ts = excluded.updated_ts`,
      ),
      ruleUsers: db.prepare<[], string>('SELECT user_id FROM push_rules').pluck(),

      addMember: db.prepare<[number, string, number]>('INSERT OR IGNORE INTO push_room_members (room_nid, user_id, since_stream) VALUES (?, ?, ?)'),
      delMember: db.prepare<[number, string]>('DELETE FROM push_room_members WHERE room_nid = ? AND user_id = ?'),
      memberSince: db.prepare<[number, string], number>('SELECT since_stream FROM push_room_members WHERE room_nid = ? AND user_id = ?').pluck(),
      roomsOf: db.prepare<[string], { room_nid: number; since_stream: number }>(
        'SELECT room_nid, since_stream FROM push_room_members WHERE user_id = ?',
      ),
      lastSent: db.prepare<[number, number, string], number | null>(
        'SELECT MAX(stream_ordering) FROM push_notify_events WHERE room_nid = ? AND stream_ordering > ? AND sender = ?',
      ).pluck(),

      insEvent: db.prepare<[number, number, number, string, string | null, number, number, string, number]>(
        `INSERT OR REPLACE INTO push_notify_events (room_nid, stream_ordering, event_nid, sender, thread_id, notify, highlight, actions, ts)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insException: db.prepare<[string, number, number, number, number, string]>(
        `INSERT OR REPLACE INTO push_notify_exceptions (user_id, room_nid, stream_ordering, notify, highlight, actions)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      threadCounts: db.prepare<[CountParams], { thread_id: string | null; n: number | null; h: number | null }>(
        `SELECT e.thread_id, SUM(COALESCE(x.notify, e.notify)) AS n, SUM(COALESCE(x.highlight, e.highlight)) AS h
         FROM push_notify_events e
         LEFT JOIN push_notify_exceptions x ON x.user_id = @user AND x.room_nid = e.room_nid AND x.stream_ordering = e.stream_ordering
         WHERE e.room_nid = @room AND e.stream_ordering > ${READ_UP_TO} AND e.sender != @user GROUP BY e.thread_id`,
      ),
      // One thread's notifying events in (lo, hi] (thread_id IS NULL: the main timeline).
      threadRange: db.prepare<[{ user: string; room: number; thread: string | null; lo: number; hi: number }], { n: number | null; h: number | null }>(
        `SELECT SUM(COALESCE(x.notify, e.notify)) AS n, SUM(COALESCE(x.highlight, e.highlight)) AS h
         FROM push_notify_events e
         LEFT JOIN push_notify_exceptions x ON x.user_id = @user AND x.room_nid = e.room_nid AND x.stream_ordering = e.stream_ordering
         WHERE e.room_nid = @room AND e.stream_ordering > @lo AND e.stream_ordering <= @hi AND e.sender != @user AND e.thread_id IS @thread`,
      ),
      inRoom: db.prepare<[string, number, number, number, string, number, number], NotificationDb & { notify: number }>(
        `SELECT ${USER_OUTCOME}
         FROM push_notify_events e
         LEFT JOIN push_notify_exceptions x ON x.user_id = ? AND x.room_nid = e.room_nid AND x.stream_ordering = e.stream_ordering
         WHERE e.room_nid = ? AND e.stream_ordering > ? AND e.stream_ordering < ? AND e.sender != ?
           AND COALESCE(x.notify, e.notify) = 1 AND COALESCE(x.highlight, e.highlight) >= ?
         ORDER BY e.stream_ordering DESC LIMIT ?`,
      ),
      ofUser: db.prepare<[string, number, number, number], NotificationDb>(
        `SELECT x.room_nid, x.stream_ordering, e.event_nid, x.highlight, x.actions, e.ts
         FROM push_notify_exceptions x
         JOIN push_notify_events e ON e.room_nid = x.room_nid AND e.stream_ordering = x.stream_ordering
         WHERE x.user_id = ? AND x.stream_ordering < ? AND x.notify = 1 AND x.highlight >= ?
         ORDER BY x.stream_ordering DESC LIMIT ?`,
      ),

      pushersOf: db.prepare<[string], PusherDb>('SELECT * FROM pushers WHERE user_id = ? ORDER BY id'),
      pusherUsers: db.prepare<[], string>('SELECT DISTINCT user_id FROM pushers').pluck(),
      getPusher: db.prepare<[string, string, string], PusherDb>('SELECT * FROM pushers WHERE user_id = ? AND app_id = ? AND pushkey = ?'),
      upsertPusher: db.prepare(
        `INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang, data, pushkey_ts, device_id)
         VALUES (@userId, @appId, @pushkey, @kind, @appDisplayName, @deviceDisplayName, @profileTag, @lang, @data, @pushkeyTs, @deviceId)
         ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET kind = excluded.kind, app_display_name = excluded.app_display_name,
           device_display_name = excluded.device_display_name, profile_tag = excluded.profile_tag, lang = excluded.lang,
           data = excluded.data, pushkey_ts = excluded.pushkey_ts`,
      ),
      delPusher: db.prepare<[string, string, string]>('DELETE FROM pushers WHERE user_id = ? AND app_id = ? AND pushkey = ?'),
      othersWithKey: db.prepare<[string, string, string], string>('SELECT user_id FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id != ?').pluck(),
      delOthersWithKey: db.prepare<[string, string, string]>('DELETE FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id != ?'),
      delPushersOfDevice: db.prepare<[string, string]>('DELETE FROM pushers WHERE user_id = ? AND device_id = ?'),
      delPushersOfUser: db.prepare<[string]>('DELETE FROM pushers WHERE user_id = ?'),
    };
  }

  // ---- rules ----

  getRules(userId: string): string | undefined {
    return this.q.getRules.get(userId);
  }

  putRules(userId: string, json: string, ts: number): void {
    this.q.putRules.run(userId, json, ts);
  }

  /** Users with a push_rules row. */
  usersWithRules(): string[] {
    return this.q.ruleUsers.all();
  }

  // ---- audiences (inside the persist transaction) ----

  /** The member joined at `since` (kept if they were already joined). */
  addRoomMember(roomNid: number, userId: string, since: number): void {
    this.q.addMember.run(roomNid, userId, since);
  }

  removeRoomMember(roomNid: number, userId: string): void {
    this.q.delMember.run(roomNid, userId);
  }

  /** The stream ordering of the join that started the user's membership; undefined when not joined. */
  memberSince(roomNid: number, userId: string): number | undefined {
    return this.q.memberSince.get(roomNid, userId);
  }

  joinedRoomsOf(userId: string): RoomMemberRow[] {
    return this.q.roomsOf.all(userId).map((r) => ({ roomNid: r.room_nid, since: r.since_stream }));
  }

  /** The user's own latest recorded event in the room after `after`, else `after`. */
  readUpTo(roomNid: number, userId: string, after: number): number {
    return Math.max(after, this.q.lastSent.get(roomNid, after, userId) ?? 0);
  }

  // ---- outcomes (inside the persist transaction) ----

  insertNotifyEvent(r: NotifyEventRow, exceptions: readonly NotifyExceptionRow[]): void {
    this.q.insEvent.run(r.roomNid, r.streamOrdering, r.eventNid, r.sender, r.threadId, r.notify ? 1 : 0, r.highlight ? 1 : 0, r.actions, r.ts);
    for (const x of exceptions) {
      this.q.insException.run(x.userId, r.roomNid, r.streamOrdering, x.notify ? 1 : 0, x.highlight ? 1 : 0, x.actions);
    }
  }

  /**
   * Notifying events of the room after `after` (the later of the join and the read receipt) and
   * after the user's own latest event, that they did not send, per thread (null key: the main
   * timeline).
   */
  unreadThreadCounts(userId: string, roomNid: number, after: number): Map<string | null, UnreadCounts> {
    const out = new Map<string | null, UnreadCounts>();
    for (const r of this.q.threadCounts.iterate({ user: userId, room: roomNid, after })) {
      out.set(r.thread_id, { notify: r.n ?? 0, highlight: r.h ?? 0 });
    }
    return out;
  }

  /** Notifying events of one thread (null: the main timeline) in (lo, hi] that the user did not send. */
  threadRangeCounts(userId: string, roomNid: number, threadId: string | null, lo: number, hi: number): UnreadCounts {
    const r = this.q.threadRange.get({ user: userId, room: roomNid, thread: threadId, lo, hi });
    return { notify: r?.n ?? 0, highlight: r?.h ?? 0 };
  }

  /** The user's notifications in a room, newest first, with stream orderings in (after, before). */
  notificationsInRoom(userId: string, roomNid: number, after: number, before: number, onlyHighlight: boolean, limit: number): UserNotificationRow[] {
    return this.q.inRoom.all(userId, roomNid, after, before, userId, onlyHighlight ? 1 : 0, limit).map(notificationRow);
  }

  /** Notifications from the user's own exception rows (invites, mentions, rooms left since), newest first. */
  exceptionNotifications(userId: string, before: number, onlyHighlight: boolean, limit: number): UserNotificationRow[] {
    return this.q.ofUser.all(userId, before, onlyHighlight ? 1 : 0, limit).map(notificationRow);
  }

  // ---- pushers ----

  pushersOf(userId: string): PusherRow[] {
    return this.q.pushersOf.all(userId).map(pusherRow);
  }

  usersWithPushers(): string[] {
    return this.q.pusherUsers.all();
  }

  getPusher(userId: string, appId: string, pushkey: string): PusherRow | undefined {
    const r = this.q.getPusher.get(userId, appId, pushkey);
    return r ? pusherRow(r) : undefined;
  }

  /**
   * Creates or updates the user's pusher (keeping the device it was created from) and, unless
   * `append`, removes other users' pushers with the same app ID and pushkey. Returns those users.
   */
  setPusher(p: PusherRow, append: boolean): string[] {
    return this.db.transaction(() => {
      const removed = append ? [] : this.q.othersWithKey.all(p.appId, p.pushkey, p.userId);
      if (!append) this.q.delOthersWithKey.run(p.appId, p.pushkey, p.userId);
      this.q.upsertPusher.run(p);
      return removed;
    })();
  }

  deletePusher(userId: string, appId: string, pushkey: string): boolean {
    return this.q.delPusher.run(userId, appId, pushkey).changes > 0;
  }

  deletePushersOfDevices(userId: string, deviceIds: readonly string[]): number {
    return this.db.transaction(() => {
      let n = 0;
      for (const d of deviceIds) n += this.q.delPushersOfDevice.run(userId, d).changes;
      return n;
    })();
  }

  deletePushersOfUser(userId: string): number {
    return this.q.delPushersOfUser.run(userId).changes;
  }
}
