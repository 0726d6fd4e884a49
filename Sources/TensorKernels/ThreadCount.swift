import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How many threads clrp runs on when nobody says otherwise (`Kernels.threadCount`'s start).
public enum DefaultThreadCount {
  /// The count and, when a variable was set but unusable, a warning naming it. In order:
  /// `CLRP_THREADS`; else `OPENBLAS_NUM_THREADS` (what clrp read when OpenBLAS ran its own
  /// threads, and what the Slurm and Kubernetes files in `deploy/` set to the task's cores);
  /// else the CPUs the process may run on (its affinity mask: a Slurm cpuset or `taskset`
  /// shows there); else the online CPUs. Each must be a positive integer.
  public static func resolve(environment: [String: String], allowedCPUs: Int?, onlineCPUs: Int) -> (count: Int, warning: String?) {
    var warning: String?
    for name in ["CLRP_THREADS", "OPENBLAS_NUM_THREADS"] {
      guard let text = environment[name] else { continue }
      if let count = Int(text.trimmingCharacters(in: .whitespaces)), count > 0 { return (count, warning) }
      warning = warning ?? "clrp: \(name)=\(text) is not a positive whole number of threads; ignored"
    }
    return (max(1, allowedCPUs ?? onlineCPUs), warning)
  }

  /// The count for this process (a warning, if any, goes to stderr once).
  static let current: Int = {
    let (count, warning) = resolve(environment: ProcessInfo.processInfo.environment,
                                   allowedCPUs: allowedCPUs(), onlineCPUs: onlineCPUs())
    if let warning { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
    return count
  }()

  /// CPUs in the process's affinity mask (Linux: `Cpus_allowed_list` of /proc/self/status,
  /// which a Slurm cpuset or `taskset` narrows), or nil.
  static func allowedCPUs() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
    return cpuCount(inList: String(line.dropFirst("Cpus_allowed_list:".count)))
  }

  /// The number of CPUs in a Linux CPU list such as "0-3,8,10-11" (nil when it does not parse).
  static func cpuCount(inList list: String) -> Int? {
    var count = 0
    for part in list.trimmingCharacters(in: .whitespaces).split(separator: ",") {
      let bounds = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
      guard let first = bounds.first ?? nil, bounds.count <= 2 else { return nil }
      guard let last = bounds.count == 2 ? bounds[1] : first, last >= first else { return nil }
      count += last - first + 1
    }
    return count > 0 ? count : nil
  }

  static func onlineCPUs() -> Int {
    #if canImport(Glibc)
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    #else
    return max(1, Int(sysconf(_SC_NPROCESSORS_ONLN)))
    #endif
  }
}
