// TLS files read at start-up (as root), kept so that per-rule set-ups after the drop can still use them.
import { readFileSync } from 'node:fs';
import { exactArg } from '../env/env-bytes';
import { loadTlsMaterial, type FileReader, type TlsMaterial } from '../tls/context';
import type { TlsSettings } from '../tls/settings';

/**
 * The TLS file reader of a root start without SSL identity. Until `seal()` (the drop) every file
 * read is kept by path; afterwards those paths are answered from memory and any other path is
 * read from disk as the dropped identity. So a rule that changes only CIPHERS (or names the
 * start-up KEYFILE again) keeps working with a root-only key, while a key file only a rule names
 * must be readable by that identity. Per-rule set-ups are kept by the server anyway, so a file
 * changed on disk is not seen by them either.
 */
export class StartupFiles {
  private readonly _files = new Map<string, Buffer>();
  private _sealed = false;

  /**
   * @param _password the -3 password, for encrypted keys
   * @param _readFile reads a file from disk (tests pass another)
   */
  constructor(
    private readonly _password?: Buffer,
    private readonly _readFile: FileReader = (p) => readFileSync(exactArg(p)),
  ) {}

  /**
   * FileReader: the start-up bytes of `path` if it was read before the drop, else the file now.
   * @param path the file
   * @returns its bytes
   * @throws Error from the read (ENOENT, EACCES…)
   */
  readonly read: FileReader = (path) => {
    const kept = this._files.get(path);
    if (kept !== undefined) return kept;
    const bytes = this._readFile(path);
    if (!this._sealed) this._files.set(path, bytes);
    return bytes;
  };

  /** Stops keeping files: from now on (after the drop) new paths are read each time. */
  seal(): void {
    this._sealed = true;
  }

  /**
   * Loads one TLS set-up through `read`, in the key helper's shape (the server's loadMaterial).
   * @param settings the files and options
   * @returns the checked material
   * @throws ConfigError (as a rejection) from loadTlsMaterial: `unable to load key: PATH`…
   */
  readonly load = async (settings: TlsSettings): Promise<TlsMaterial> => loadTlsMaterial(settings, this.read, this._password);
}
