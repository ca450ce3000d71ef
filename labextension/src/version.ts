/**
 * The front end's version, the Python package's (tests/test_architecture.py
 * checks that they agree). The view marks its element with it
 * (`data-nbpipe-version`), so a page tells which build of the bundle it runs.
 */
export const MODULE_NAME = 'nbpipe';

/** Version of this front end. */
export const MODULE_VERSION = '0.1.0';

/**
 * Semver range of front ends a kernel of this version works with. Widget
 * managers no longer see it (the widget's module is anywidget's); it is kept
 * as the statement of compatibility beside the version.
 */
export const MODULE_VERSION_RANGE = '^0.1.0';
