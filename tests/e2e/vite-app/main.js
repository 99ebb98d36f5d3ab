// A customer's app: imports the package by name; Vite bundles it and the wasm as an asset.
import init, { validateNumber, formatNumber, validateExpiry } from 'cardtoken';

await init();
const n = validateNumber('3782 822463 10005');
const e = validateExpiry('12/2034');
document.getElementById('result').textContent =
  `${n.brand} ${n.isValid} ${formatNumber('4242424242424242')} ${e.year}`;
