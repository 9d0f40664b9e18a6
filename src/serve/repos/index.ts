// The mirror's repo kinds (APT, YUM, PyPI, Helm, Go modules, plain files): RepoHandlers for the airlock
// server, and the import functions that put artifacts in the store and republish each repo's indexes.
import type { RepoHandler } from '../types.ts';
import { aptHandler } from './apt.ts';
import { filesHandler } from './files.ts';
import { goProxyHandler } from './goproxy.ts';
import { helmHandler } from './helm.ts';
import { pypiHandler } from './pypi.ts';
import { yumHandler } from './yum.ts';

/** Every repo kind, mounted at its default prefix: /apt/, /yum/, /pypi/, /helm/, /go/, /files/. */
export function repoHandlers(): RepoHandler[] {
  return [aptHandler(), yumHandler(), pypiHandler(), helmHandler(), goProxyHandler(), filesHandler()];
}

export { aptHandler, importDeb, publishSuite, parseControl, debControl, debPoolPath, packagesIndex, aptIndexes, releaseFile, releaseDate, APT_KEYRING_ASC, APT_KEYRING_GPG, AptError, type AptPackage, type AptSuite, type ImportDebOptions } from './apt.ts';
export { yumHandler, importRpm, primaryXml, filelistsXml, otherXml, repomdXml, repodataFiles, YUM_KEY_PATH, YumError, type YumPackage, type ImportRpmOptions } from './yum.ts';
export { parseRpm, RpmError, type RpmInfo } from './rpm.ts';
export { pypiHandler, importPython, normalizeName, negotiate, projectHtml, projectJson, rootHtml, rootJson, PypiError, type PypiFile, type PypiProject } from './pypi.ts';
export { helmHandler, importChart, helmIndexYaml, chartMetadata, HelmError, type HelmEntry } from './helm.ts';
export { goProxyHandler, importGoModule, removeGoModuleVersion, escapePath, unescapePath, goVersionList, goLatest, GoProxyError, type GoModuleInput } from './goproxy.ts';
export { filesHandler, importFile, publishStoredFile, FilesError } from './files.ts';
export { siteSigner, SigningError, type SiteSigner, type SignerOptions } from './gpg.ts';
export { pathSegments, sendBlob, parseRange } from './http.ts';
