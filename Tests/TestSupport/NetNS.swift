// Test hosts in their own network namespaces, reached over a veth pair from the root namespace, answering
// pings through sotp-test-responder with a set delay and loss (this kernel has no tc netem).
import Foundation
import Synchronization

/// One test host: a network namespace joined to the root namespace by a veth pair, with addresses from
/// the RFC 2544 benchmarking ranges so nothing collides with a real network.
///
/// The namespace's kernel never answers echo requests itself (its `icmp_echo_ignore_all` sysctls are set
/// at creation); `startResponder` makes the host answer. `destroy()` (also run by `deinit`) stops what it
/// started and deletes the namespace; call it from a `defer` so a failing test leaves nothing behind.
public final class NetNS: @unchecked Sendable {
    /// The namespace's name, `sotp-<tag>-<pid>-<n>`.
    public let name: String
    /// The host's IPv4 address inside the namespace (198.18.0.0/15, a /30 per namespace).
    public let hostV4: String
    /// The host's IPv6 address inside the namespace (2001:2::/48, a /64 per namespace).
    public let hostV6: String
    /// The root namespace's IPv4 address on the veth pair; probes to `hostV4` leave from here.
    public let localV4: String
    /// The root namespace's IPv6 address on the veth pair; probes to `hostV6` leave from here.
    public let localV6: String
    /// The root-side veth interface, `sotp<index>` (the namespace side is `eth0`).
    public let interface: String

    private struct State {
        var children: [Child] = []
        var responder: Child?
        var readySerial = 0
        var destroyed = false
    }
    private let state = Mutex(State())

    private init(name: String, index: Int) {
        self.name = name
        interface = "sotp\(index)"
        let offset = index * 4
        let v4 = "198.\(18 + (offset >> 16)).\((offset >> 8) & 0xFF)."
        localV4 = v4 + String((offset & 0xFF) + 1)
        hostV4 = v4 + String((offset & 0xFF) + 2)
        let v6 = "2001:2:0:\(String(index, radix: 16))::"
        localV6 = v6 + "1"
        hostV6 = v6 + "2"
    }

    deinit { destroy() }

    // MARK: - Availability

    /// Whether this machine can create test namespaces (root, iproute2, a kernel with netns and veth).
    public static var available: Bool { probe == nil }

    /// Why `available` is false; nil when it is true.
    public static var unavailableReason: String? { probe }

    private static let ipPath: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Nil when namespaces work, else the reason. Computed once: it also clears stale namespaces.
    private static let probe: String? = {
        guard geteuid() == 0 else { return "network namespaces need root (euid is \(geteuid()))" }
        guard ipPath != nil else { return "no `ip` command (apt install iproute2)" }
        _ = cleanupStale()
        let name = "sotp-probe-\(getpid())-\(counter.add(1, ordering: .relaxed).oldValue)"
        do {
            try ip(["netns", "add", name])
            try ip(["-n", name, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"])
            _ = try? ip(["netns", "del", name])
            return nil
        } catch {
            _ = try? ip(["netns", "del", name])
            return "cannot create a namespace with a veth pair: \(error)"
        }
    }()

    // MARK: - Creation

    private static let counter = Atomic<Int>(0)

    /// Creates a namespace `sotp-<tag>-<pid>-<n>` with `lo` and `eth0` up, joined to the root namespace by
    /// the veth `sotp<index>` (also up), and its kernel's echo replies off. The root-side veth name claims
    /// the address block: creating it fails while any process uses that index, so parallel test processes
    /// never share addresses. Throws `NetNSError` (with the failing command's output) when a step fails;
    /// whatever was created by then is removed again.
    public static func create(tag: String) throws -> NetNS {
        if let probe { throw NetNSError("network namespaces are unavailable: \(probe)") }
        let safeTag = String(tag.lowercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(16))
        let pid = Int(getpid())

        var name = ""
        var n = 0
        for attempt in 0..<16 {
            n = counter.add(1, ordering: .relaxed).oldValue
            name = "sotp-\(safeTag.isEmpty ? "t" : safeTag)-\(pid)-\(n)"
            do {
                try ip(["netns", "add", name])
                break
            } catch let e as NetNSError where e.message.contains("File exists") && attempt < 15 {
                continue
            }
        }

        do {
            let blocks = 32768  // /30s in 198.18.0.0/15
            var index: Int?
            for step in 0..<64 {
                let candidate = (pid &* 64 &+ n &+ step) % blocks
                do {
                    try ip(["link", "add", "sotp\(candidate)", "type", "veth", "peer", "name", "eth0", "netns", name])
                    index = candidate
                    break
                } catch let e as NetNSError where e.message.contains("File exists") {
                    continue
                }
            }
            guard let index else { throw NetNSError("no free veth index: sotp\((pid &* 64 &+ n) % blocks) and the 63 after it exist") }
            let ns = NetNS(name: name, index: index)
            do {
                try ip(["addr", "add", ns.localV4 + "/30", "dev", ns.interface])
                try ip(["-6", "addr", "add", ns.localV6 + "/64", "dev", ns.interface, "nodad"])
                try ip(["link", "set", ns.interface, "up"])
                try ip(["-n", name, "link", "set", "lo", "up"])
                try ip(["-n", name, "addr", "add", ns.hostV4 + "/30", "dev", "eth0"])
                try ip(["-n", name, "-6", "addr", "add", ns.hostV6 + "/64", "dev", "eth0", "nodad"])
                try ip(["-n", name, "link", "set", "eth0", "up"])
                try ns.silenceKernelEcho()
            } catch {
                ns.destroy()
                throw error
            }
            return ns
        } catch {
            _ = try? ip(["netns", "del", name])
            throw error
        }
    }

    /// Deletes namespaces named `sotp-<tag>-<pid>-<n>` whose pid no longer runs (left by a crashed run) and
    /// returns their names. Deleting one removes its veth pair once nothing runs inside it any more (a
    /// responder notices its parent is gone within a second and exits).
    @discardableResult
    public static func cleanupStale() -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/run/netns") else { return [] }
        var removed: [String] = []
        for entry in entries.sorted() where entry.hasPrefix("sotp-") {
            let parts = entry.split(separator: "-")
            guard parts.count >= 4, let owner = pid_t(parts[parts.count - 2]), owner > 0, owner != getpid() else { continue }
            if kill(owner, 0) == 0 || errno == EPERM { continue }
            if (try? ip(["netns", "del", entry])) != nil { removed.append(entry) }
        }
        return removed
    }

    // MARK: - Running things inside

    /// Runs `argv` inside the namespace (`ip netns exec`; argv[0] is looked up on PATH) to the end and
    /// returns its exit status (128 + signal when killed) and combined output. Killed after `timeout` seconds.
    public func run(_ argv: [String], timeout: Double = 60) throws -> (status: Int32, output: String) {
        let child = try Child(try Self.ipCommand(), ["netns", "exec", name] + argv)
        let status = child.wait(timeout: timeout)
        return (status, child.output)
    }

    /// Starts `argv` inside the namespace and returns it running; `destroy()` stops it (SIGTERM, then
    /// SIGKILL after 5 s) unless it ended first. `ip netns exec` execs the program, so `pid` is its own.
    public func spawn(_ argv: [String]) throws -> Child {
        let child = try Child(try Self.ipCommand(), ["netns", "exec", name] + argv)
        let destroyed = state.withLock { s in
            if !s.destroyed { s.children.append(child) }
            return s.destroyed
        }
        if destroyed {
            child.signal(SIGKILL)
            _ = child.wait(timeout: 5)
            throw NetNSError("\(name) is already destroyed")
        }
        return child
    }

    // MARK: - The responder

    /// The sotp-test-responder binary: `$SOTP_TEST_RESPONDER`, else next to the running test binary (the
    /// build products directory, whatever its configuration or --build-path), else the repository's
    /// .build/debug. Throws when none exists: `swift build --build-tests` builds it.
    public static func responderPath() throws -> String {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["SOTP_TEST_RESPONDER"], !env.isEmpty { candidates.append(env) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // macOS-style bundles keep the binary in <name>.xctest/Contents/MacOS.
            if dir.path.hasSuffix("/Contents/MacOS") { for _ in 0..<3 { dir.deleteLastPathComponent() } }
            candidates.append(dir.appendingPathComponent("sotp-test-responder").path)
        }
        candidates.append(TestDB.repoRoot + "/.build/debug/sotp-test-responder")
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw NetNSError("sotp-test-responder not found (looked at \(candidates.joined(separator: ", "))); run `swift build --build-tests`")
    }

    /// Makes the host answer echo requests: stops a responder this namespace already runs, sets the
    /// echo-ignore sysctls, starts sotp-test-responder and waits (at most 10 s) until its sockets are open.
    /// Replies leave `delayMicros` µs after each request's kernel receive time; exactly `lossPercent` of
    /// every 100 requests get none (positions from `seed`). `realtime` runs it at SCHED_FIFO priority 1 so
    /// a busy machine (a parallel build) does not make replies milliseconds late. The responder exits by
    /// itself after `maxSeconds`. Throws with the responder's output when it does not become ready.
    @discardableResult
    public func startResponder(
        delayMicros: Int, lossPercent: Int, seed: Int = 1, family: ResponderFamily = .both, maxSeconds: Int = 600,
        realtime: Bool = true
    ) throws -> Child {
        guard (0...60_000_000).contains(delayMicros) else { throw NetNSError("delayMicros must be 0...60_000_000, got \(delayMicros)") }
        guard (0...100).contains(lossPercent) else { throw NetNSError("lossPercent must be 0...100, got \(lossPercent)") }
        guard seed >= 0 else { throw NetNSError("seed must be >= 0, got \(seed)") }
        guard maxSeconds >= 1 else { throw NetNSError("maxSeconds must be >= 1, got \(maxSeconds)") }
        _ = try? stopResponder()
        try silenceKernelEcho()

        let serial = state.withLock { s in
            s.readySerial += 1
            return s.readySerial
        }
        let ready = NSTemporaryDirectory() + "\(name)-responder-\(serial).ready"
        unlink(ready)
        defer { unlink(ready) }
        let child = try spawn([
            try Self.responderPath(), "--delay-us", String(delayMicros), "--loss-pct", String(lossPercent),
            "--seed", String(seed), "--family", family.rawValue, "--max-seconds", String(maxSeconds),
            "--ready-file", ready,
        ] + (realtime ? ["--realtime"] : []))
        let deadline = Date().addingTimeInterval(10)
        while access(ready, F_OK) != 0 {
            if let status = child.exitStatus() {
                throw NetNSError("sotp-test-responder in \(name) exited with status \(status) before it was ready:\n\(child.output)")
            }
            if Date() > deadline {
                child.signal(SIGKILL)
                _ = child.wait(timeout: 5)
                throw NetNSError("sotp-test-responder in \(name) not ready after 10 s:\n\(child.output)")
            }
            usleep(5_000)
        }
        state.withLock { $0.responder = child }
        return child
    }

    /// Makes the running responder stop answering (SIGUSR1): requests are counted and ignored, replies
    /// still pending are discarded. Takes effect within microseconds. Throws when no responder runs.
    public func pauseResponder() throws { try runningResponder().signal(SIGUSR1) }

    /// Makes a paused responder answer again (SIGUSR2). Throws when no responder runs.
    public func resumeResponder() throws { try runningResponder().signal(SIGUSR2) }

    /// Stops the responder (SIGTERM, SIGKILL after 5 s) and returns the counts it printed on exit.
    /// Throws when none runs or its output has no counts (it crashed, or was killed).
    @discardableResult
    public func stopResponder() throws -> ResponderStats {
        let child = try runningResponder()
        state.withLock { $0.responder = nil }
        child.signal(SIGTERM)
        let status = child.wait(timeout: 5)
        let output = child.output
        guard status == 0, let stats = ResponderStats(parsing: output) else {
            throw NetNSError("sotp-test-responder in \(name) ended with status \(status) and no counts:\n\(output)")
        }
        return stats
    }

    private func runningResponder() throws -> Child {
        guard let child = state.withLock({ $0.responder }), child.exitStatus() == nil else {
            throw NetNSError("no sotp-test-responder runs in \(name)")
        }
        return child
    }

    private func silenceKernelEcho() throws {
        let r = try run(["sysctl", "-q", "-w", "net.ipv4.icmp_echo_ignore_all=1", "net.ipv6.icmp.echo_ignore_all=1"], timeout: 10)
        guard r.status == 0 else { throw NetNSError("sysctl in \(name) exited with status \(r.status): \(r.output)") }
    }

    // MARK: - Teardown

    /// Stops every process this object started (SIGTERM, SIGKILL after 5 s; by pid, nothing else), deletes
    /// the veth pair and the namespace. Idempotent; failures to delete are printed, not thrown, so it can
    /// run from `defer` and `deinit`.
    public func destroy() {
        let children: [Child]? = state.withLock { s in
            guard !s.destroyed else { return nil }
            s.destroyed = true
            s.responder = nil
            let started = s.children
            s.children = []
            return started
        }
        guard let children else { return }
        for child in children where child.exitStatus() == nil { child.signal(SIGTERM) }
        for child in children { _ = child.wait(timeout: 5) }
        // Deleting the veth here rather than leaving it to the namespace's teardown (which the kernel runs
        // later, from a work queue) means the interface is gone when destroy() returns.
        for args in [["link", "del", interface], ["netns", "del", name]] {
            do {
                try Self.ip(args)
            } catch let e as NetNSError where e.message.contains("Cannot find device") || e.message.contains("No such file") {
            } catch {
                FileHandle.standardError.write(Data("NetNS.destroy: \(error)\n".utf8))
            }
        }
    }

    // MARK: - ip

    private static func ipCommand() throws -> String {
        guard let ipPath else { throw NetNSError("no `ip` command (apt install iproute2)") }
        return ipPath
    }

    /// Runs `ip args` (at most 30 s) and throws its output unless it exits 0.
    @discardableResult
    private static func ip(_ args: [String]) throws -> String {
        let child = try Child(try ipCommand(), args)
        let status = child.wait(timeout: 30)
        guard status == 0 else {
            throw NetNSError("`ip \(args.joined(separator: " "))` exited with status \(status): \(child.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return child.output
    }
}

/// Which echo requests sotp-test-responder answers.
public enum ResponderFamily: String, Sendable {
    case v4 = "4", v6 = "6", both
}

/// The counts sotp-test-responder prints when it exits. `received` counts well-formed echo requests:
/// received = answered + dropped + ignored + overflow + sendErrors + pendingAtExit.
public struct ResponderStats: Sendable, Equatable {
    /// Well-formed echo requests read.
    public var received: Int
    /// Replies sent.
    public var answered: Int
    /// Requests dropped by the loss pattern.
    public var dropped: Int
    /// Requests (and pending replies) discarded while paused.
    public var ignored: Int
    /// Packets too short, truncated, or with a bad ICMPv4 checksum; not in `received`.
    public var malformed: Int
    /// Requests not answered because the pending-reply queue was full.
    public var overflow: Int
    /// Replies whose sendmsg failed.
    public var sendErrors: Int
    /// Replies not yet due when the responder exited.
    public var pendingAtExit: Int
    /// Replies sent more than 1 ms after their due time.
    public var lateOver1ms: Int
    /// The latest a reply left after its due time, in µs.
    public var maxLateMicros: Int

    /// Parses the responder's exit line (`received=… answered=… …`); nil when the output has none.
    public init?(parsing output: String) {
        guard let line = output.split(separator: "\n").last(where: { $0.contains(" received=") }) else { return nil }
        var values: [String: Int] = [:]
        for word in line.split(separator: " ") {
            let kv = word.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Int(kv[1]) { values[String(kv[0])] = v }
        }
        guard let received = values["received"], let answered = values["answered"], let dropped = values["dropped"],
            let ignored = values["ignored"], let malformed = values["malformed"], let overflow = values["overflow"],
            let sendErrors = values["send_errors"], let pending = values["pending_at_exit"],
            let late = values["late_over_1ms"], let maxLate = values["max_late_us"]
        else { return nil }
        self.received = received
        self.answered = answered
        self.dropped = dropped
        self.ignored = ignored
        self.malformed = malformed
        self.overflow = overflow
        self.sendErrors = sendErrors
        self.pendingAtExit = pending
        self.lateOver1ms = late
        self.maxLateMicros = maxLate
    }
}

/// A namespace step that failed, with the command and what it printed.
public struct NetNSError: Error, CustomStringConvertible {
    /// What failed and why.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
