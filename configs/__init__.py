"""The built-in model zoo: one YAML spec per model (`cnncalc list`, `cnncalc show NAME`).

Installed as the package ``cnncalc.configs`` (see pyproject.toml); this file makes it a regular
package so that editable installs map it as well. It holds no code.
"""
