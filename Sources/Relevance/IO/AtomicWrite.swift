import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `data` to `path` so that readers see either the old file or the complete new one:
/// the bytes go to a hidden temporary file in the same directory (`.NAME.tmp-PID-RANDOM`),
/// are flushed to disk, and the temporary file is renamed over `path`. On any failure the
/// temporary file is removed and nothing is left behind.
///
/// Problems (missing directory, no permission, `path` is a directory, disk full) are
/// `ModelError`s naming `path` and the reason.
public func writeAtomically(_ data: Data, to path: String) throws {
  let url = URL(fileURLWithPath: path)
  let directory = url.deletingLastPathComponent().path
  func fail(_ reason: String) -> ModelError { ModelError(file: path, "cannot be written: \(reason)") }

  var isDirectory: ObjCBool = false
  if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
    throw fail("it is a directory")
  }
  guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
    throw fail("the directory \(directory) does not exist")
  }
  guard isDirectory.boolValue else { throw fail("\(directory) is not a directory") }

  let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
  guard fd >= 0 else { throw fail(errnoText(errno)) }
  var failure: String?
  data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
    var offset = 0
    while offset < raw.count {
      let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        failure = errnoText(errno)
        return
      }
      offset += written
    }
  }
  if failure == nil && fsync(fd) != 0 { failure = errnoText(errno) }
  if close(fd) != 0 && failure == nil { failure = errnoText(errno) }
  if failure == nil && rename(temporary, path) != 0 { failure = errnoText(errno) }
  if let failure {
    unlink(temporary)
    throw fail(failure)
  }
}

/// `strerror` in lower case: "permission denied", "no space left on device".
func errnoText(_ code: Int32) -> String {
  let text = String(cString: strerror(code))
  return text.prefix(1).lowercased() + text.dropFirst()
}
