// /api/v1/devices: the device inventory as JSON. Bodies are checked field by field before any SQL runs,
// so every mistake comes back as a 4xx naming the field; PostgreSQL builds the response JSON itself.
import Foundation
import Poller
import Sink

/// A request the API refuses, and why: rendered as `{"error": {"status", "code", "field", "message"}}`.
struct APIProblem: Error, Equatable {
    var status: Int
    /// A stable, machine-readable kind: `invalid_json`, `invalid_field`, `unknown_field`, `missing_field`,
    /// `read_only_field`, `invalid_parameter`, `not_found`, `conflict`, `unauthorized`, `forbidden`,
    /// `body_too_large`, `unsupported_media_type`, `unavailable`.
    var code: String
    /// The field or parameter at fault (`address`, `settings.timeout_ms`, `disks[2].mount`), if one is.
    var field: String?
    var message: String

    static func invalid(_ field: String, _ message: String) -> APIProblem {
        APIProblem(status: 422, code: "invalid_field", field: field, message: "\(field): \(message)")
    }

    /// A bad path or query parameter (400).
    static func parameter(_ name: String, _ message: String) -> APIProblem {
        APIProblem(status: 400, code: "invalid_parameter", field: name, message: "\(name): \(message)")
    }

    var json: String {
        var members = ["\"status\": \(status)", "\"code\": \(jsonString(code))"]
        if let field { members.append("\"field\": \(jsonString(field))") }
        members.append("\"message\": \(jsonString(message))")
        return "{\"error\": {" + members.joined(separator: ", ") + "}}\n"
    }
}

/// The writable fields of a device, as a request gives them (nil: not given).
struct DeviceInput: Equatable {
    var name: String?
    var address: String?
    var tags: [String]?
    var enabled: Bool?
    var icmp: Bool?
    var snmp: Bool?
    /// devices.settings as canonical JSON text.
    var settings: String?

    static let writable = ["name", "address", "tags", "enabled", "icmp", "snmp", "settings"]

    /// The values of DeviceSQL.insert's parameters (and update's after the id), fields left out taking
    /// the table's defaults.
    var sqlParameters: [String?] {
        [name, address, jsonArray(tags ?? []), String(enabled ?? true), String(icmp ?? true), String(snmp ?? false), settings ?? "{}"]
    }
    static let readOnly = [
        "id", "vendor", "model", "os", "os_version", "sys_object_id", "sys_name", "sys_descr", "snmp_profile",
        "created_at", "updated_at", "state",
    ]
}

/// Checks device bodies against the daemon's own rules: the same per-device overrides, ranges and
/// SNMPv3 users the pollers accept, so the API cannot store a device the pollers would skip.
struct DeviceValidator: Sendable {
    var icmp: ICMPInventory
    var snmp: SNMPConfig

    static let maxTags = 64
    static let maxTagLength = 64
    static let maxNameLength = 255

    /// Parses a request body. `complete`: every required field must be there (create, replace).
    func parse(_ body: [UInt8], complete: Bool) throws(APIProblem) -> DeviceInput {
        let object = try jsonObject(body)
        var d = DeviceInput()
        for (k, v) in object {
            switch k {
            case "name":
                guard let s = v as? String else { throw .invalid(k, "must be a string, got \(jsonText(v))") }
                let t = s.trimmingCharacters(in: .whitespaces)
                guard !t.isEmpty, t == s, s.count <= Self.maxNameLength, !s.contains(where: isControl) else {
                    throw .invalid(k, "must be 1…\(Self.maxNameLength) characters without leading or trailing spaces or control characters")
                }
                d.name = s
            case "address":
                guard let s = v as? String else { throw .invalid(k, "must be a string, got \(jsonText(v))") }
                guard let a = IPAddress(s) else { throw .invalid(k, "must be an IPv4 or IPv6 address, got \(jsonText(v))") }
                d.address = a.description
            case "tags":
                guard let list = v as? [Any] else { throw .invalid(k, "must be an array of strings, got \(jsonText(v))") }
                guard list.count <= Self.maxTags else { throw .invalid(k, "has \(list.count) tags; at most \(Self.maxTags)") }
                var tags: [String] = []
                for (i, item) in list.enumerated() {
                    guard let s = item as? String, !s.isEmpty, s.count <= Self.maxTagLength,
                        !s.contains(where: { $0.isWhitespace || isControl($0) || $0 == "," || $0 == "{" || $0 == "}" || $0 == "\"" || $0 == "\\" })
                    else {
                        throw .invalid("tags[\(i)]", "must be 1…\(Self.maxTagLength) characters without spaces, commas, braces, quotes or backslashes, got \(jsonText(item))")
                    }
                    if !tags.contains(s) { tags.append(s) }
                }
                d.tags = tags
            case "enabled", "icmp", "snmp":
                guard let b = jsonBool(v) else { throw .invalid(k, "must be true or false, got \(jsonText(v))") }
                if k == "enabled" { d.enabled = b } else if k == "icmp" { d.icmp = b } else { d.snmp = b }
            case "settings":
                guard let dict = v as? [String: Any] else { throw .invalid(k, "must be a JSON object, got \(jsonText(v))") }
                for (key, value) in dict {
                    if let str = value as? String, str.contains(where: isControl) {
                        throw .invalid("settings.\(key)", "must not hold control characters")
                    }
                }
                let known = Set(ProbeOverrides.intKeys + ["source"] + SNMPOverrides.keys)
                for key in dict.keys.sorted() where !known.contains(key) {
                    throw APIProblem(
                        status: 422, code: "unknown_field", field: "settings.\(key)",
                        message: "settings.\(key): is not a device setting; known: \(known.sorted().joined(separator: ", "))")
                }
                do throws(OverrideProblem) {
                    _ = try ProbeOverrides(settings: dict)
                    _ = try SNMPOverrides(settings: dict)
                } catch {
                    throw .invalid("settings.\(error.key)", error.problem)
                }
                let data = (try? JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])) ?? Data("{}".utf8)
                d.settings = String(decoding: data, as: UTF8.self)
            default:
                if DeviceInput.readOnly.contains(k) {
                    throw APIProblem(status: 422, code: "read_only_field", field: k, message: "\(k): is set by sotpd and cannot be written")
                }
                throw APIProblem(
                    status: 422, code: "unknown_field", field: k,
                    message: "\(k): is not a device field; writable: \(DeviceInput.writable.joined(separator: ", "))")
            }
        }
        if complete {
            for k in ["name", "address"] where object[k] == nil {
                throw APIProblem(status: 422, code: "missing_field", field: k, message: "\(k): is required")
            }
        }
        return d
    }

    /// Checks the device as it will be stored (the stored row merged with a partial update) the way the
    /// pollers will read it: the ICMP settings must fit together, SNMP settings must name known users.
    func check(address: String, settings: String, snmp: Bool) throws(APIProblem) {
        guard let a = IPAddress(address) else { throw .invalid("address", "must be an IPv4 or IPv6 address") }
        if case .failure(let p) = icmp.target(id: "1", name: "", address: address, settings: settings) {
            // The inventory's message already names the key ("settings.timeout_ms must be …").
            let field = p.key == "address" ? "address" : "settings.\(p.key)"
            throw APIProblem(status: 422, code: "invalid_field", field: field, message: p.problem)
        }
        guard snmp else { return }
        let dict = (try? JSONSerialization.jsonObject(with: Data(settings.utf8))) as? [String: Any] ?? [:]
        do throws(OverrideProblem) {
            let o = try SNMPOverrides(settings: dict)
            if case .failure(let p) = self.snmp.target(a, o) { throw p }
        } catch {
            throw .invalid("settings.\(error.key)", error.problem)
        }
    }
}

/// A request body parsed as JSON, or 400 saying why it is not JSON.
func jsonBody(_ body: [UInt8]) throws(APIProblem) -> Any {
    guard !body.isEmpty else { throw APIProblem(status: 400, code: "invalid_json", field: nil, message: "the request body is empty; a JSON object is expected") }
    do {
        return try JSONSerialization.jsonObject(with: Data(body), options: [])
    } catch {
        throw APIProblem(status: 400, code: "invalid_json", field: nil, message: "the request body is not valid JSON: \(jsonErrorText(error))")
    }
}

/// A JSON object body, or 400 saying why it is not one.
func jsonObject(_ body: [UInt8]) throws(APIProblem) -> [String: Any] {
    let value = try jsonBody(body)
    guard let object = value as? [String: Any] else {
        throw APIProblem(status: 400, code: "invalid_json", field: nil, message: "the request body must be a JSON object, got \(jsonText(value))")
    }
    return object
}

/// Foundation's JSON error in one line (its debug description names the offset).
func jsonErrorText(_ error: Error) -> String {
    let ns = error as NSError
    return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
}

/// A C0 control character or DEL: never valid in a name, tag or label (and PostgreSQL's text and jsonb
/// cannot hold NUL at all).
func isControl(_ c: Character) -> Bool {
    c.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
}

/// A JSON boolean (not 0 or 1).
func jsonBool(_ v: Any) -> Bool? {
    guard let n = v as? NSNumber, type(of: n) == type(of: NSNumber(value: true)) else { return nil }
    return n.boolValue
}

/// The SQL of the devices resource. Every statement returns the device (or page) as JSON text built by
/// PostgreSQL, so the API only passes it through.
enum DeviceSQL {
    /// The JSON object of one `devices` row `d`.
    static let object = """
        jsonb_build_object('id', d.id, 'name', d.name, 'address', host(d.address), 'tags', d.tags,
            'enabled', d.enabled, 'icmp', d.icmp, 'snmp', d.snmp, 'settings', d.settings,
            'vendor', d.vendor, 'model', d.model, 'os', d.os, 'os_version', d.os_version,
            'sys_name', d.sys_name, 'sys_object_id', d.sys_object_id, 'sys_descr', d.sys_descr,
            'snmp_profile', d.snmp_profile, 'created_at', d.created_at, 'updated_at', d.updated_at)
        """

    /// A page after id $1, at most $2 rows, with every tag of $3 (JSON array, or NULL), enabled = $4 (or NULL):
    /// the items as a JSON array, and the last id when the page is full (there may be more).
    static let list = """
        SELECT coalesce(json_agg(j ORDER BY id), '[]'), CASE WHEN count(*) = $2::int THEN max(id) END
        FROM (SELECT d.id, \(object) AS j FROM devices d
              WHERE d.id > $1::int
                AND ($3::jsonb IS NULL OR d.tags @> ARRAY(SELECT jsonb_array_elements_text($3::jsonb)))
                AND ($4::boolean IS NULL OR d.enabled = $4::boolean)
              ORDER BY d.id LIMIT $2::int) page
        """

    /// One device with its current ICMP state from device_state.
    static let get = """
        SELECT \(object) || jsonb_build_object('state', (SELECT json_build_object('state', s.state, 'since', s.since)
            FROM device_state s WHERE s.device_id = d.id AND s.kind = 'icmp'))
        FROM devices d WHERE d.id = $1::int
        """

    /// The stored writable fields of a device, for a partial update to merge with.
    static let current = "SELECT name, host(address), array_to_json(tags), enabled, icmp, snmp, settings::text FROM devices WHERE id = $1::int"

    static let insert = """
        INSERT INTO devices AS d (name, address, tags, enabled, icmp, snmp, settings)
        VALUES ($1, $2::inet, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4::boolean, $5::boolean, $6::boolean, $7::jsonb)
        RETURNING \(object), d.id
        """

    /// Writes every writable field of device $1; updated_at moves only when something changed.
    static let update = """
        UPDATE devices AS d SET name = $2, address = $3::inet, tags = ARRAY(SELECT jsonb_array_elements_text($4::jsonb)),
            enabled = $5::boolean, icmp = $6::boolean, snmp = $7::boolean, settings = $8::jsonb,
            updated_at = CASE WHEN (d.name, d.address, d.tags, d.enabled, d.icmp, d.snmp, d.settings)
                IS DISTINCT FROM ($2, $3::inet, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::boolean, $6::boolean, $7::boolean, $8::jsonb)
                THEN now() ELSE d.updated_at END
        WHERE d.id = $1::int
        RETURNING \(object)
        """

    static let delete = "DELETE FROM devices WHERE id = $1::int RETURNING id"
}

/// A JSON array of strings, for the jsonb parameters above.
func jsonArray(_ strings: [String]) -> String { "[" + strings.map(jsonString).joined(separator: ",") + "]" }
