import Foundation

/// How much memory clrp lets one model take: constant folding, shape inference and forward
/// plans estimate what they are about to allocate (with overflow-checked arithmetic) and
/// refuse, with a `ModelError`, what would not fit, instead of dying in the allocator.
///
/// The process-wide budget is `MemoryBudget.current`; it starts as `MemoryBudget.default`
/// (the environment variable `CLRP_MAX_MEMORY`, e.g. `8G`, else 75 % of the machine's memory,
/// or of the cgroup's limit when that is lower) and the command-line tools that take
/// `--max-memory` set it from there.
public struct MemoryBudget: Sendable, Equatable, CustomStringConvertible {
  public var bytes: Int

  public init(bytes: Int) { self.bytes = max(0, bytes) }

  /// No limit (for shape questions that allocate nothing).
  public static let unlimited = MemoryBudget(bytes: .max)

  /// The fraction of the machine's memory the default budget allows.
  public static let defaultFraction = 0.75

  /// Physical memory: `MemTotal` of /proc/meminfo (else `ProcessInfo.physicalMemory`),
  /// capped by the cgroup v2 limit `memory.max` when one is set.
  public static let machineBytes: Int = {
    var total = Int(clamping: ProcessInfo.processInfo.physicalMemory)
    if let info = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
       let line = info.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
       let kB = Int(line.split(separator: " ").dropFirst().first ?? "") {
      total = kB.multipliedReportingOverflow(by: 1024).overflow ? total : kB * 1024
    }
    if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
       let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 {
      total = min(total, limit)
    }
    return total
  }()

  /// `CLRP_MAX_MEMORY` when set (and valid), else `defaultFraction` of the machine's memory.
  public static var `default`: MemoryBudget {
    if let text = ProcessInfo.processInfo.environment["CLRP_MAX_MEMORY"], let budget = try? parse(text) { return budget }
    return MemoryBudget(bytes: Int(Double(machineBytes) * defaultFraction))
  }

  private static let lock = NSLock()
  nonisolated(unsafe) private static var stored: MemoryBudget?

  /// The budget the library checks against (process-wide).
  public static var current: MemoryBudget {
    get { lock.lock(); defer { lock.unlock() }; return stored ?? .default }
    set { lock.lock(); defer { lock.unlock() }; stored = newValue }
  }

  /// Parses a size such as `8G`, `512M`, `1.5GB`, `64KiB` or a plain byte count
  /// (K, M, G, T are powers of 1024).
  public static func parse(_ text: String) throws -> MemoryBudget {
    var s = text.trimmingCharacters(in: .whitespaces).uppercased()
    if s.hasSuffix("IB") { s.removeLast(2) } else if s.hasSuffix("B") { s.removeLast() }
    let units: [Character: Double] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024, "T": 1024 * 1024 * 1024 * 1024]
    var scale = 1.0
    if let last = s.last, let unit = units[last] { scale = unit; s.removeLast() }
    guard let value = Double(s.trimmingCharacters(in: .whitespaces)), value.isFinite, value > 0,
          value * scale < 9e18 else {
      throw ModelError("invalid memory size '\(text)' (expected e.g. 8G, 512M or a byte count)")
    }
    return MemoryBudget(bytes: Int(value * scale))
  }

  /// Bytes in a human unit: `8.4 GB`.
  public static func format(_ bytes: Int) -> String {
    let b = Double(bytes)
    if b >= 1e12 { return String(format: "%.1f TB", b / 1e12) }
    if b >= 1e9 { return String(format: "%.1f GB", b / 1e9) }
    if b >= 1e6 { return String(format: "%.1f MB", b / 1e6) }
    return "\(bytes) bytes"
  }

  public var description: String { MemoryBudget.format(bytes) }

  /// Whether `bytes` (nil: too large to count) fits.
  public func allows(_ bytes: Int?) -> Bool { bytes.map { $0 <= self.bytes } ?? false }

  /// The message for an estimate that does not fit.
  public func refusal(_ what: String, needs bytes: Int?) -> String {
    let needs = bytes.map { "about \(MemoryBudget.format($0))" } ?? "more memory than can be counted"
    return "\(what) needs \(needs), above the memory budget of \(self) (CLRP_MAX_MEMORY, else 75 % of memory, by default; classify and bench take --max-memory)"
  }
}

/// Overflow-checked arithmetic for memory estimates: nil once a value does not fit an Int.
enum Estimate {
  /// Elements of `shape`; nil on a negative dimension or overflow.
  static func elements(_ shape: [Int]) -> Int? {
    guard shape.allSatisfy({ $0 >= 0 }) else { return nil }
    if shape.contains(0) { return 0 }
    var total = 1
    for d in shape {
      let (p, o) = total.multipliedReportingOverflow(by: d)
      if o { return nil }
      total = p
    }
    return total
  }

  /// `bytesPerElement` times the elements of `shape`.
  static func bytes(_ shape: [Int], _ bytesPerElement: Int) -> Int? {
    guard let n = elements(shape) else { return nil }
    let (p, o) = n.multipliedReportingOverflow(by: bytesPerElement)
    return o ? nil : p
  }

  static func sum(_ a: Int?, _ b: Int?) -> Int? {
    guard let a, let b else { return nil }
    let (s, o) = a.addingReportingOverflow(b)
    return o ? nil : s
  }
}
