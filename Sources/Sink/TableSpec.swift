// What the sink needs to know about a destination table: its name and the columns a row fills, in order.

/// A destination table and the columns each row supplies, in COPY order.
public struct TableSpec: Sendable, Hashable {
    /// A column name and its PostgreSQL type.
    public struct Column: Sendable, Hashable {
        public var name: String
        public var type: ColumnType
        public init(_ name: String, _ type: ColumnType) {
            self.name = name
            self.type = type
        }
    }

    /// Table name, optionally schema-qualified (`sotp.dead_letter`).
    public let name: String
    public let columns: [Column]
    /// The COPY statement for these columns, built once.
    public let copySQL: String

    public init(_ name: String, _ columns: [Column]) {
        precondition(!columns.isEmpty && columns.count < Int(Int16.max), "a table needs 1…32766 columns")
        self.name = name
        self.columns = columns
        self.copySQL = Self.copyStatement(table: name, columns: columns.map(\.name))
    }

    static func copyStatement(table: String, columns: [String]) -> String {
        let qualified = table.split(separator: ".").map { quoteIdent(String($0)) }.joined(separator: ".")
        return "COPY \(qualified) (\(columns.map(quoteIdent).joined(separator: ", "))) FROM STDIN (FORMAT binary)"
    }
}

/// A double-quoted SQL identifier.
func quoteIdent(_ s: String) -> String {
    "\"" + s.replacingAll("\"", with: "\"\"") + "\""
}

/// A single-quoted SQL literal.
func quoteLiteral(_ s: String) -> String {
    "'" + s.replacingAll("'", with: "''") + "'"
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        out.reserveCapacity(count)
        for c in self {
            if c == target { out += replacement } else { out.append(c) }
        }
        return out
    }
}
