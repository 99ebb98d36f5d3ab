// Each line below must fail to type-check: `npm test` asserts tsc reports exactly these errors.
import { validateNumber, load, type Brand } from 'cardtoken';

export async function wrong(): Promise<void> {
  const b: Brand = 'american-express'; // TS2322: the contract's name is 'amex'
  validateNumber('4242', { luhn: true }); // TS2353: unknown option
  const ct = await load('pk_test_1');
  await ct.createToken({ number: '4242' }); // TS2345: exp_month, exp_year and cvc are required
  const n: number = validateNumber('4').brand; // TS2322: brand is Brand | null
  void b; void n;
}
