// A child process started with posix_spawn, its output in a temporary file. (Foundation's Process can
// hang in waitUntilExit off the main thread on Linux, and tests need the pid to send signals.)
import Foundation

public final class Child: @unchecked Sendable {
    public let pid: pid_t
    let outputPath: String
    private var status: Int32?

    /// Starts `path` with `args` and the current environment without its SOTP_* variables (so the
    /// scripts' own settings cannot override a test's config), plus `env`; stdout and stderr go to a file.
    public init(_ path: String, _ args: [String], env: [String: String] = [:]) throws {
        outputPath = NSTemporaryDirectory() + "child-\(UInt64.random(in: 0...UInt64.max)).out"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SOTP_") }
            .merging(env) { $1 }.map { "\($0.key)=\($0.value)" }
        let argv = ([path] + args).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        // The test runner's threads block most signals and a spawned child would inherit that mask,
        // so SIGTERM would not reach it: start every child with nothing blocked and default handlers.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        guard rc == 0 else { throw NSError(domain: "posix_spawn", code: Int(rc), userInfo: [NSLocalizedDescriptionKey: "spawn \(path): \(String(cString: strerror(rc)))"]) }
        self.pid = pid
    }

    /// Sends a signal.
    public func signal(_ sig: Int32) { kill(pid, sig) }

    /// Waits for the child and returns its exit code (128 + signal when killed by one). A child still
    /// running after `timeout` seconds is killed (SIGKILL), so a test can never hang on one.
    public func wait(timeout: Double = 120) -> Int32 {
        if let status { return status }
        var st: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if Date() > deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(10_000)
        }
        return record(st)
    }

    /// The child's exit code if it has ended (reaping it), nil while it still runs; never blocks.
    public func exitStatus() -> Int32? {
        if let status { return status }
        var st: Int32 = 0
        var r: pid_t
        repeat { r = waitpid(pid, &st, WNOHANG) } while r < 0 && errno == EINTR
        return r == pid ? record(st) : nil
    }

    private func record(_ st: Int32) -> Int32 {
        let code: Int32 = (st & 0x7F) == 0 ? (st >> 8) & 0xFF : 128 + (st & 0x7F)
        status = code
        return code
    }

    /// Everything the child wrote so far.
    public var output: String {
        (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    deinit {
        if status == nil { kill(pid, SIGKILL); _ = wait() }
        unlink(outputPath)
    }
}
