#!/usr/bin/env python3
"""The packaging files agree with the build: debian/control's Build-Depends are scripts/install-deps.sh's packages
(less libtorch, which the package build disables), every -D option of debian/rules exists in meson_options.txt,
neither the binary packages nor the Containerfile's runtime stage pull in libtorch or python3-torch, and (when
apt's package lists are there) every package named exists in this Debian release."""
import glob
import os
import re
import subprocess
import sys

src = sys.argv[1]
failures = []


def fail(msg):
    failures.append(msg)


def read(rel):
    with open(os.path.join(src, rel), encoding='utf-8') as f:
        return f.read()


def shell_array(text, start, end):
    """Package names between `start` and the closing `end` of a bash array, comments dropped."""
    body = text.split(start, 1)[1].split(end, 1)[0]
    return [w for line in body.splitlines() for w in line.split('#', 1)[0].split()]


deps_sh = read('scripts/install-deps.sh')
base = set(shell_array(deps_sh, 'PACKAGES=(', '\n)'))
packaging = set(shell_array(deps_sh, 'EMSYNC_WITH_PACKAGING:-0}" = 1 ]; then\n  PACKAGES+=(', ')'))
# The package is built with -Dtorch=disabled (debian/rules): the libtorch packages are developer-only.
torch_only = {'libtorch-dev', 'python3-torch'}


def control_paragraphs():
    paras, cur, key = [], {}, None
    for line in read('debian/control').splitlines() + ['']:
        if line.startswith('#'):
            continue
        if not line.strip():
            if cur:
                paras.append(cur)
            cur, key = {}, None
        elif line[0] in ' \t':
            cur[key] += ' ' + line.strip()
        else:
            key, _, value = line.partition(':')
            cur[key] = value.strip()
    return paras


def relations(field):
    """[[alternative names], ...] of a Depends-style field, versions, arch lists and profiles dropped."""
    out = []
    for rel in field.split(','):
        alts = [re.sub(r'[\s(\[<].*', '', a.strip()) for a in rel.split('|')]
        alts = [a for a in alts if a and not a.startswith('${')]
        if alts:
            out.append(alts)
    return out


paras = control_paragraphs()
source, binaries = paras[0], paras[1:]
build_deps = {alts[0] for alts in relations(source.get('Build-Depends', ''))}
for p in sorted(base - build_deps - torch_only):
    fail(f'scripts/install-deps.sh installs {p} but debian/control Build-Depends does not list it '
         '(add it, with <!nocheck> if only the tests need it)')
for p in sorted(build_deps - base - packaging - {'debhelper-compat'}):
    fail(f'debian/control Build-Depends lists {p} but scripts/install-deps.sh does not install it')
for p in sorted(build_deps & torch_only):
    fail(f'debian/control Build-Depends lists {p}: the package build runs with -Dtorch=disabled')

names = {b['Package'] for b in binaries}
for b in binaries:
    for field in ('Depends', 'Recommends', 'Pre-Depends'):
        for alts in relations(b.get(field, '')):
            for a in alts:
                if 'torch' in a:
                    fail(f"debian/control: {b['Package']} {field} {a}: the runtime packages never need libtorch")
    pkg = b['Package']
    if not glob.glob(os.path.join(src, 'debian', pkg + '.install')):
        fail(f'debian/{pkg}.install missing: the package would be empty')

rules = read('debian/rules')
options = set(re.findall(r"option\('([^']+)'", read('meson_options.txt')))
for opt in re.findall(r'-D([A-Za-z0-9_-]+)=', rules):
    if opt not in options:
        fail(f'debian/rules sets -D{opt}=, which meson_options.txt does not declare')
if '-Dtorch=disabled' not in rules:
    fail('debian/rules: the package must be configured with -Dtorch=disabled')

container = read('Containerfile')
stages = re.split(r'^FROM ', container, flags=re.M)[1:]
if len(stages) < 2:
    fail('Containerfile: expected a build stage and a runtime stage')
else:
    runtime = stages[-1]
    if re.search(r'torch', re.sub(r'#.*', '', runtime)):
        fail('Containerfile: the runtime stage names a torch package')
    if not re.search(r'^ENTRYPOINT \["emsync"\]', runtime, flags=re.M):
        fail('Containerfile: the runtime stage needs ENTRYPOINT ["emsync"]')
    apt_words = re.findall(r'apt-get install[^&]*', re.sub(r'\\\n', ' ', runtime))
    runtime_pkgs = {w for words in apt_words for w in words.split()[2:]
                    if not w.startswith('-') and '/' not in w}
    allowed = {a for b in binaries for f in ('Depends', 'Recommends') for alts in relations(b.get(f, '')) for a in alts}
    for p in sorted(runtime_pkgs - allowed - names):
        fail(f'Containerfile installs {p}, which no package of debian/control depends on or recommends')

# Every name must exist in this Debian release (skipped before the first apt-get update).
if glob.glob('/var/lib/apt/lists/*_Packages*'):
    wanted = set(build_deps - {'debhelper-compat'}) | {alts[0] for b in binaries for f in ('Depends', 'Recommends',
                                                        'Suggests') for alts in relations(b.get(f, ''))}
    wanted -= names
    known = subprocess.run(['apt-cache', 'show', '--no-all-versions'] + sorted(wanted), capture_output=True,
                           text=True).stdout
    found = set(re.findall(r'^Package: (\S+)', known, flags=re.M))
    # Virtual packages (sf2-soundfont-gm) have no record of their own: a provider is enough.
    for p in sorted(wanted - found):
        providers = subprocess.run(['apt-cache', 'showpkg', p], capture_output=True, text=True).stdout
        if 'Reverse Provides:' not in providers or not providers.split('Reverse Provides:', 1)[1].strip():
            fail(f'{p} (debian/control) is not a package of this Debian release')
else:
    print('note: no apt package lists; package names not checked against the archive')

if failures:
    for f in failures:
        print('FAIL: ' + f)
    sys.exit(1)
print(f'PASS: {len(build_deps)} Build-Depends match scripts/install-deps.sh; {len(binaries)} binary packages, '
      'no libtorch at run time; rules options and Containerfile consistent')
