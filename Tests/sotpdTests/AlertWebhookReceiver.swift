// A small HTTP/1.1 receiver on 127.0.0.1 for the alert tests: answers each POST as its script says
// (a status, or closing the connection without an answer), then 200, and keeps every request it read.
import Foundation

final class WebhookReceiver: @unchecked Sendable {
    enum Reply {
        case status(Int, headers: [(String, String)] = [])
        /// Close the connection after reading the request, without answering.
        case close
    }

    struct Request {
        var method: String
        var path: String
        var headers: [String: String]
        var body: Data
        var at: Date
        /// What the receiver did with it.
        var answered: Int?

        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
    }

    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var script: [Reply]
    private var received: [Request] = []
    private var stopped = false

    init(script: [Reply] = []) throws {
        self.script = script
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &a, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }) == 0,
              listen(fd, 64) == 0 else {
            close(fd)
            throw NSError(domain: "WebhookReceiver", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "bind/listen failed"])
        }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.fd = fd
        port = Int(UInt16(bigEndian: a.sin_port))
        let t = Thread { [self] in acceptLoop() }
        t.start()
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }

    var requests: [Request] { lock.withLock { received } }

    /// Requests answered with 2xx.
    var accepted: [Request] { requests.filter { ($0.answered ?? 0) / 100 == 2 } }

    /// Waits until `count` requests were accepted or `timeout` passes.
    @discardableResult
    func waitForAccepted(_ count: Int, timeout: Double) -> [Request] {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            let a = accepted
            if a.count >= count { return a }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return accepted
    }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    deinit { if !lock.withLock({ stopped }) { stop() } }

    private func acceptLoop() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR { continue }
                return
            }
            let t = Thread { [self] in serve(c) }
            t.start()
        }
    }

    private func serve(_ c: Int32) {
        defer { close(c) }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8]()
        while true {
            // Headers.
            var headerEnd: Int?
            while headerEnd == nil {
                if let r = find(buffer, [13, 10, 13, 10]) { headerEnd = r; break }
                guard read(c, &buffer) else { return }
            }
            let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self)
            var lines = head.components(separatedBy: "\r\n")
            let requestLine = lines.removeFirst().split(separator: " ")
            var headers: [String: String] = [:]
            for l in lines {
                guard let colon = l.firstIndex(of: ":") else { continue }
                headers[l[..<colon].lowercased()] = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            let bodyStart = headerEnd! + 4
            while buffer.count < bodyStart + length {
                guard read(c, &buffer) else { return }
            }
            let body = Data(buffer[bodyStart..<(bodyStart + length)])
            buffer.removeFirst(bodyStart + length)
            var request = Request(
                method: requestLine.first.map(String.init) ?? "", path: requestLine.count > 1 ? String(requestLine[1]) : "",
                headers: headers, body: body, at: Date())
            let reply = lock.withLock { script.isEmpty ? Reply.status(200) : script.removeFirst() }
            switch reply {
            case .close:
                lock.withLock { received.append(request) }
                return
            case .status(let code, let extra):
                request.answered = code
                lock.withLock { received.append(request) }
                var response = "HTTP/1.1 \(code) X\r\nContent-Length: 2\r\n"
                for (k, v) in extra { response += "\(k): \(v)\r\n" }
                response += "\r\nok"
                let bytes = Array(response.utf8)
                _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    private func read(_ c: Int32, _ buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer += chunk[..<n]
        return true
    }

    private func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}
