// Writes one batch over one connection so that nothing is lost and nothing is written twice:
// each COPY runs in a transaction that also records (batch id, first row, row count) in
// sotp.batch_ledger, so a retry after a lost COMMIT reply finds the ledger row and skips the data.
// A batch the database rejects for its data (SQLSTATE classes 22, 23) is split in halves until each
// bad row stands alone; those go to sotp.dead_letter with their error and raw bytes.

/// A sealed batch: encoded tuples for one table, with the identity the ledger uses.
struct Batch: Sendable {
    var seq: UInt64
    var batchID: Int64
    var table: String
    var copySQL: String
    var rows: Int
    var tuples: [UInt8]
    /// Tried before (in this run, or possibly before a crash when it comes from the spool): parts of it
    /// may be committed already, so the ledger is read before writing.
    var retried = false
}

/// What happened to a batch.
struct WriteOutcome: Sendable {
    var written = 0
    var deadLettered = 0
    var alreadyApplied = 0
    var copyFailures = 0
}

/// The write logic for one connection; stateless between batches.
struct BatchWriter {
    /// Writes `batch`; throws only transient errors (the connection or server is at fault), after which
    /// the whole batch must be retried later: the ledger makes that retry skip what was committed.
    static func write(_ batch: Batch, on conn: borrowing PGConnection) throws(PGError) -> WriteOutcome {
        var outcome = WriteOutcome()
        var ranges: [Range<Int>]?
        var done: [(first: Int, count: Int)] = []
        if batch.retried {
            // An earlier attempt may have split the batch and committed parts of it; those parts must
            // not be written again even if the whole batch would now go through in one COPY.
            done = try conn.query("SELECT first_row, row_count FROM sotp.batch_ledger WHERE batch_id = $1", [String(batch.batchID)])
                .compactMap { row in
                    guard let f = row[0].flatMap({ Int($0) }), let c = row[1].flatMap({ Int($0) }) else { return nil }
                    return (f, c)
                }
            if done.contains(where: { $0.count < 0 }) {
                outcome.alreadyApplied = batch.rows  // dead-lettered whole as unparseable
                return outcome
            }
        }
        try store(batch, rows: 0..<batch.rows, done: done, ranges: &ranges, on: conn, outcome: &outcome)
        return outcome
    }

    private static func store(
        _ batch: Batch, rows: Range<Int>, done: [(first: Int, count: Int)], ranges: inout [Range<Int>]?,
        on conn: borrowing PGConnection, outcome: inout WriteOutcome
    ) throws(PGError) {
        if done.contains(where: { $0.first == rows.lowerBound && $0.count == rows.count }) {
            outcome.alreadyApplied += rows.count
            return
        }
        let partlyDone = done.contains { $0.first < rows.upperBound && $0.first + $0.count > rows.lowerBound }
        if partlyDone {
            // Follow the split the earlier attempt made, skipping what it committed.
            try ensureRanges(batch, &ranges)
            let mid = rows.lowerBound + rows.count / 2
            try store(batch, rows: rows.lowerBound..<mid, done: done, ranges: &ranges, on: conn, outcome: &outcome)
            try store(batch, rows: mid..<rows.upperBound, done: done, ranges: &ranges, on: conn, outcome: &outcome)
            return
        }
        let tuples: ArraySlice<UInt8>
        if rows == 0..<batch.rows {
            tuples = batch.tuples[...]
        } else {
            let r = ranges!
            tuples = batch.tuples[r[rows.lowerBound].lowerBound..<r[rows.upperBound - 1].upperBound]
        }
        do throws(PGError) {
            if try copy(batch, rows: rows, tuples: tuples, on: conn) {
                outcome.written += rows.count
            } else {
                outcome.alreadyApplied += rows.count
            }
            return
        } catch where error.isTransient {
            throw error
        } catch {
            outcome.copyFailures += 1
            if ranges == nil { ranges = tupleRanges(batch.tuples) }
            guard ranges?.count == batch.rows else {
                // Our own encoder or a verified spool file produced this, so it cannot happen short of
                // a bug; keep the bytes rather than guess at row boundaries.
                if try deadLetter(batch, row: -1, count: batch.rows, bytes: batch.tuples[...], error: error, on: conn) {
                    outcome.deadLettered += batch.rows
                }
                return
            }
            if rows.count == 1 || !error.isDataError {
                // A lone bad row, or a schema error (class 42: a missing column, say) that splitting cannot
                // isolate: keep every row of the range with the error, each as its own dead letter.
                for row in rows {
                    if try deadLetter(batch, row: row, count: 1, bytes: batch.tuples[ranges![row]], error: error, on: conn) {
                        outcome.deadLettered += 1
                    } else {
                        outcome.alreadyApplied += 1
                    }
                }
                return
            }
            let mid = rows.lowerBound + rows.count / 2
            try store(batch, rows: rows.lowerBound..<mid, done: done, ranges: &ranges, on: conn, outcome: &outcome)
            try store(batch, rows: mid..<rows.upperBound, done: done, ranges: &ranges, on: conn, outcome: &outcome)
        }
    }

    private static func ensureRanges(_ batch: Batch, _ ranges: inout [Range<Int>]?) throws(PGError) {
        if ranges == nil { ranges = tupleRanges(batch.tuples) }
        guard ranges?.count == batch.rows else {
            throw PGError(sqlstate: nil, message: "batch \(batch.batchID) does not parse into \(batch.rows) rows", connectionLost: false)
        }
    }

    /// One transaction: ledger row, COPY, COMMIT. Returns false when the ledger shows these rows were
    /// already committed by an earlier attempt.
    private static func copy(_ batch: Batch, rows: Range<Int>, tuples: ArraySlice<UInt8>, on conn: borrowing PGConnection) throws(PGError) -> Bool {
        guard try begin(batch, first: rows.lowerBound, count: rows.count, on: conn) else { return false }
        do throws(PGError) {
            try conn.copyBinary(batch.copySQL, tuples: tuples)
            try conn.execute("COMMIT")
        } catch {
            rollback(conn)
            throw error
        }
        return true
    }

    /// BEGIN and claim the ledger row; false (and rolled back) when it exists already.
    private static func begin(_ batch: Batch, first: Int, count: Int, on conn: borrowing PGConnection) throws(PGError) -> Bool {
        do throws(PGError) {
            try conn.execute(
                "BEGIN; INSERT INTO sotp.batch_ledger (batch_id, first_row, row_count) VALUES (\(batch.batchID), \(first), \(count))"
            )
            return true
        } catch where error.sqlstate == "23505" {
            rollback(conn)
            return false
        } catch {
            rollback(conn)
            throw error
        }
    }

    /// Stores one dead letter (or the whole batch's bytes for row -1); false when the ledger shows it
    /// was stored by an earlier attempt.
    private static func deadLetter(
        _ batch: Batch, row: Int, count: Int, bytes: ArraySlice<UInt8>, error: PGError, on conn: borrowing PGConnection
    ) throws(PGError) -> Bool {
        guard try begin(batch, first: max(row, 0), count: row < 0 ? -count : 1, on: conn) else { return false }
        do throws(PGError) {
            try conn.execute(
                """
                INSERT INTO sotp.dead_letter (table_name, batch_id, row_index, sqlstate, error, copy_sql, row_data)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                """,
                text: [batch.table, String(batch.batchID), String(row), error.sqlstate, error.message, batch.copySQL],
                bytea: Array(bytes)
            )
            try conn.execute("COMMIT")
        } catch {
            rollback(conn)
            // Failing to keep a dead letter must not lose it: make the caller retry the batch later.
            throw PGError(sqlstate: error.sqlstate, message: "dead-letter insert failed: \(error.message)", connectionLost: true)
        }
        return true
    }

    private static func rollback(_ conn: borrowing PGConnection) {
        if conn.isOK { try? conn.execute("ROLLBACK") }
    }
}
