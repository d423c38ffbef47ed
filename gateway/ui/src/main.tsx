/** Entry point: styles, language attribute, mount. */
import { render } from 'preact';
import { App } from './app.tsx';
import { locale } from './i18n/index.ts';
import './styles.css';

document.documentElement.lang = locale();
const root = document.getElementById('app');
if (root !== null) render(<App />, root);
