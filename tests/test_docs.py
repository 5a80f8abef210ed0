"""`make docs` builds a site that renders in a real browser: headless Chromium opens the built pages and we check the
navigation, an API entry (show_doc output of an exported function) and a figure (its pixels on the screenshot).
Without Chromium (no root/apt to install it) the test is reported as skipped, never silently passed."""
import shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group('docs')

def chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'):
        if shutil.which(name): return shutil.which(name)
    pytest.skip('Chromium is not installed (make test installs it with apt-get when run as root)')

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp('docs')
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_docs.py'), '--offline', '--no-readme',
                        '--out', str(d / 'site'), '--proc', str(d / 'proc')], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return d / 'site'

def browse(page: Path, tmp: Path, *extra):
    exe = chromium()
    cmd = [exe, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
           '--disable-component-update', '--disable-sync', '--no-first-run', f'--user-data-dir={tmp / "profile"}',
           '--virtual-time-budget=5000', *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

def test_site_built(site):
    for page in ('index.html', '00_core.html', '90_cli.html'): assert (site / page).exists(), page
    assert (site / 'figures' / 'pipeline.png').exists()

def test_navigation_and_api_entry_render(site, tmp_path):
    dom = browse(site / 'index.html', tmp_path, '--dump-dom').stdout
    for target in ('00_core.html', '90_cli.html', '80_reproduce.html'): assert f'href="{target}"' in dom or target in dom, target
    dom = browse(site / '00_core.html', tmp_path, '--dump-dom').stdout
    assert 'seed_everything' in dom and 'Seed <code>random</code>' in dom.replace('`', ''), 'show_doc entry missing'

def test_figure_renders(site, tmp_path):
    import matplotlib.image as mpimg
    shot = tmp_path / 'index.png'
    r = browse(site / 'index.html', tmp_path, '--window-size=1280,2600', f'--screenshot={shot}')
    assert shot.exists(), r.stderr[-2000:]
    px = (mpimg.imread(shot)[..., :3] * 255).round().astype(int)
    teal = np.array([0x2a, 0x9d, 0x8f])                     # the 'matching & targets' box of figures/pipeline.png
    hits = (np.abs(px - teal).max(-1) <= 6).sum()
    assert hits > 500, f'pipeline figure not visible on the rendered page ({hits} teal pixels)'

def test_results_table_included(site):
    "index.ipynb includes figures/results.md with Quarto's include shortcode: on the site and in README.md."
    sys.path.insert(0, str(ROOT / 'tools'))
    from build_docs import readme
    from nbdev.config import get_config
    assert 'jets (closest to 1e4)' in (ROOT / 'figures' / 'results.md').read_text()
    html = (site / 'index.html').read_text()
    assert 'include figures' not in html and 'jets (closest to 1e4)' in html
    md = readme(site.parent / 'proc', get_config())
    assert 'include figures' not in md and 'jets (closest to 1e4)' in md

def test_include_of_a_missing_file_says_how_to_make_it(tmp_path):
    sys.path.insert(0, str(ROOT / 'tools'))
    from build_docs import expand_includes
    text = 'before\n\n{{< include part.md >}}\n\nafter'
    assert 'part.md is not there yet' in expand_includes(text, tmp_path)
    (tmp_path / 'part.md').write_text('| a | b |\n')
    assert expand_includes(text, tmp_path) == 'before\n\n| a | b |\n\nafter'

def test_repo_links_point_at_settings_git_url(site, tmp_path):
    "'Report an issue' and the source links go to settings.ini's git_url (nbdev.yml is generated from it), nowhere else."
    sys.path.insert(0, str(ROOT / 'tools'))
    from build_docs import check_repo_links
    from nbdev.config import get_config
    cfg = get_config(); url = cfg.git_url.rstrip('/')
    assert check_repo_links(cfg, site) == []
    html = (site / 'index.html').read_text()
    assert f'href="{url}/issues/new"' in html and 'Report an issue' in html
    assert f'href="{url}/blob/' in (site / '00_core.html').read_text()          # show_doc's source links
    (tmp_path / 'fake').mkdir()
    (tmp_path / 'fake' / 'p.html').write_text('<a href="https://github.com/someone-else/taufm_nb/issues/new" class="toc-action">'
                                             '<i class="bi bi-chat-right"></i> Report an issue</a>'
                                             '<a href="https://github.com/HEP-KBFI/ml-tau-en-reg">the reference code</a>')
    assert check_repo_links(cfg, tmp_path / 'fake') == [f"p.html: 'Report an issue' links https://github.com/someone-else/"
                                                       f"taufm_nb/issues/new, outside {url}"]

LONG = 'x = ' + ' + '.join(f'variable_number_{i}' for i in range(60))
OVERFLOW_JS = """<script>window.addEventListener('load', () => { const main = document.querySelector('main.content') || document.body;
const mw = main.getBoundingClientRect().right; const bad = [];
const clipped = (e) => { for (let a = e.parentElement; a && a !== main; a = a.parentElement) {
  const o = getComputedStyle(a).overflowX; if (o !== 'visible' && a.getBoundingClientRect().right <= mw + 1) return true; } return false; };
main.querySelectorAll('*').forEach(e => { const r = e.getBoundingClientRect();
  if (r.width > 0 && r.right > mw + 1 && !clipped(e)) bad.push(e.tagName + ':' + Math.round(r.right - mw)); });
const d = document.createElement('div'); d.id = 'overflow-report'; d.textContent = 'OVERFLOW ' + bad.length + ' ' + bad.slice(0, 5).join(' ');
document.body.appendChild(d); });</script>"""

def test_long_code_lines_stay_inside_the_column(site, tmp_path):
    "A code cell and an output with a 1000-character line scroll inside their blocks; nothing sticks out of the column."
    import re
    page = site / '90_cli.html'
    cell = (f'<div class="cell"><div class="sourceCode cell-code"><pre class="sourceCode python"><code class="sourceCode python">'
            f'{LONG}</code></pre></div><div class="cell-output cell-output-stdout"><pre><code>{LONG}</code></pre></div></div>')
    html = page.read_text()
    test_page = site / '_long_lines.html'
    test_page.write_text(html.replace('</main>', cell + '</main>', 1).replace('</body>', OVERFLOW_JS + '</body>', 1))
    try:
        for width in (1280, 700):
            dom = browse(test_page, tmp_path, f'--window-size={width},1600', '--dump-dom').stdout
            m = re.search(r'id="overflow-report">OVERFLOW (\d+)([^<]*)', dom)
            assert m and m.group(1) == '0', (width, m and m.group(0))
    finally: test_page.unlink()
